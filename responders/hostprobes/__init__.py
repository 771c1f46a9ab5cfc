"""Host probes written once, in standard-library-only form.

The local host actions (``responders.host``), the actions over SSH (``responders.remote``) and
the fleet agent (``responders.fleet_agent``, zipped and run on a bare ``python3 -I -S`` on each
fleet host) all read the host through these modules. Each may import only the standard library,
``responders.interface`` and ``responders.agent_files`` (both standard-library-only too) and its
siblings here; tests/fleet checks the zip on an interpreter with no site-packages at all.

* ``gateway``: how a gateway shows (titles, units, lock and pid files read by issue 12's
  hostile-file rules) and which supervisor would start it again.
* ``supervisor``: the supervisord XML-RPC client a stop uses.
* ``supervisord_config``: supervisord's config files as it reads them, and the
  ``autostart=false`` edit that makes a stop final.
* ``collection``: what an evidence snapshot collects, in RFC 3227 order.
* ``archive``: the evidence archive that collection is written into (every byte hashed on its
  way in, links never followed, FIFOs never waited on, sparse files and the volatile pass
  within their budgets), the one writer of the local snapshot and of the fleet agent.
"""
