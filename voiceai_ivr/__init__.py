"""voiceai_ivr: a FreeSWITCH virtual secretary.

FreeSWITCH runs the media; this package runs the conversation: it finds the
person or department a caller wants, performs an attended transfer, or captures
a callback request that a dispatcher later keeps.
"""

__version__ = "0.1.0"
