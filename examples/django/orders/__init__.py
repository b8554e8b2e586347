"""The orders app: an order is stored, and its receipt is sent by a background job."""
