"""The DurableTask.AzureStorage layout: tables, queues, blobs and leases of one task hub, and the codecs of their rows and messages."""
