"""The use cases: live sessions, the event log, analysis runs, voice agents, session end.

Services compose storage transactions with the realtime core and know nothing of HTTP: the
edge (`handlers`) parses a request, calls one service method and answers.
"""
