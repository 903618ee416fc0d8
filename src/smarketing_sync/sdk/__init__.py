"""The connector SDK: everything a connector may import (re-exported by ``smarketing_sync``)."""
