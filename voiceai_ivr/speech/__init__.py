"""Prompt audio and speech recognition that do not depend on the PBX's modules.

* ``synth``: synthesizers (``freeswitch``, ``espeak-ng``, ``http``);
* ``cache``: the audio directory (synthesized prompts, recorded answers; 0700/0600,
  atomic writes, retention);
* ``speaker``: a prompt's text to a playable source, through the cache, within a
  time bound, falling back to FreeSWITCH's ``say:``;
* ``recognize``: recognizers (``freeswitch``, ``http`` transcription);
* ``turn``: one listen turn recorded by FreeSWITCH and transcribed over HTTP;
* ``plan``: which engine each language uses and why (start, ``config check``);
* ``render``: every static prompt, for ``voiceai-ivr prompts render``;
* ``service``: the process's ``SpeechServices``.
"""
