"""Stateful loopback stand-ins for the providers ``clawback demo`` revokes keys at.

Each one behaves like its provider for exactly the calls clawback's responders make, and no
more: it knows the keys planted in the sample home, revokes, disables or rolls them when asked,
and from then on rejects the old value the way the provider does (401, ``token_revoked``, a
disabled status). So ``verify_revoked`` proves death against a server that can say no.

- ``github``: ``/credentials/revoke``, ``/installation/token``, ``/applications/{id}/token``,
  ``/user``; run behind ``prism proxy`` so GitHub's own description checks every request and
  answer (``clawback_demo.standins.start_prism_proxy``);
- ``openai``: projects, project keys, service accounts, admin keys, ``/models``;
- ``anthropic``: the Admin API's key listing and status change, ``/v1/models``;
- ``slack``: ``auth.revoke``, ``auth.test``;
- ``cloudflare``: user API tokens (verify, details, update, delete, roll);
- ``stripe``: balance, webhook endpoints, events;
- ``elevenlabs``: a workspace's service-account keys and ``/v1/user`` (served by the tests only,
  behind ``tests.contract_server.ContractServer``, which checks it against ElevenLabs' own
  description in ``tests/contracts/``; the demo leaves ElevenLabs keys as manual steps).

Requests to all but Anthropic are checked with openapi-core against the providers' trimmed
descriptions in ``clawback_demo/contracts/`` (package data) when openapi-core is installed
(``contracts``); Anthropic publishes no description, so its stand-in checks the documented
shapes itself. Everything listens on
127.0.0.1 only. ``fleet.start_provider_fleet`` starts them all from a sample home.
"""
