"""Developer scripts: local emulator stack, storage-event relay, demo."""
