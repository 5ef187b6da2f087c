"""Tests of the bundled sandbox server."""
