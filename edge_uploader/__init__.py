"""The clinic-laptop uploader: capture from a USB stethoscope, durable outbox, verified uploads."""
