"""Model construction: tiny from-scratch models for CPU recipes and tests."""
