"""Built-in connectors. Each folder is one tool: the connector, its sandbox and its README.

Shipped inside the wheel as ``smarketing_sync_connectors`` and registered through the
``smarketing_sync.connectors`` entry points, exactly as a third-party connector package would be.
"""
