"""``genai-sidecar demo``: the simulator as the model server, the sidecar in front of it, labelled
traffic from the official SDK clients, and a live summary read from the sidecar's own /metrics."""
