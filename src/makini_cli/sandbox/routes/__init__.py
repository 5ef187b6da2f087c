"""The sandbox's HTTP surface, one router per area (all import FastAPI: load lazily)."""
