"""Test support for esl_app: a scripted FreeSWITCH peer and a throwaway PostgreSQL cluster."""
