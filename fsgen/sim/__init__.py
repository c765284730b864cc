"""hotline's FreeSWITCH 1.10 call simulator.

Module map (one concern each):

- ``conf``      load a configuration tree (X-PRE-PROCESS, $${globals}, overlay on ``stock/``)
- ``expand``    ``${var}`` / ``${api(args)}`` expansion;  ``api``: API commands
- ``dialplan``  mod_dialplan_xml hunting;  ``timecond``: time-of-day condition attributes
- ``engine``    discrete-event scheduler on a virtual clock (tasks = generators)
- ``channel``   channels, caller profiles, call state;  ``session``: route/execute loop
- ``media``     prompt durations, playback, digit collection
- ``bridge``    dial strings, endpoints (loopback, error, user, sofia), bridging
- ``apps/``     dialplan applications, one module per family (see ``apps/__init__``)
- ``outbound``  the ``socket`` application's real Event Socket connection
- ``trace``     the fs-reference trace format;  ``refcase``: replay a reference case
- ``sim``       the :class:`Simulator` tying it together;  ``cli``: ``replay`` command
"""
