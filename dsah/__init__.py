"""dsah: a reproducible replication of Deep Saliency Hashing for fine-grained retrieval."""

__version__ = "0.1.0"
