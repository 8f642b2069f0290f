"""The domain and the conversations: pure Python, no I/O, no framework, no clock it was not given."""
