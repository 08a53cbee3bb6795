"""The stack's services, in start order: each module builds one `Service`."""
