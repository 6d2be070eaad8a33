"""The provider contract and the neutral ticket view."""
