"""Durable entities: operation batches, state in the Instances row, critical sections."""
