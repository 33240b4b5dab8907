"""Test support code that is not itself a test (throwaway servers, helpers)."""
