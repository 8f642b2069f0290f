"""The domain and the conversations: pure Python, no I/O, no framework, no clock not given."""
