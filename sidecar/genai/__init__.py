"""Sans-I/O meaning: requests and decoded wire events -> observations. Standard library + _json only."""
