"""The helpdesk HTTP API (plain WSGI, served by waitress): ``api.app.create_app``
builds it; see ``api.app`` and the OpenAPI document
``voiceai_ivr/openapi/openapi.yaml``.

Nothing is imported here: ``api.http`` (requests, responses) is shared with the
console, which ``api.app`` mounts, and importing this package must not import
``api.app`` (that would make console -> api -> console a circle)."""
