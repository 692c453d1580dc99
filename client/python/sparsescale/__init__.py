"""sparsescale: the Python client of a sparsescale coordinator.

    from sparsescale import Client
    with Client("127.0.0.1:7070") as c:
        sweep = c.create_sweep(base_spec_dict, {"nonzeros": [...], "sparsities": [0, 0.5]})
        for event in c.watch(sweep.sweep.job_ids[0]): ...

The protobuf and gRPC stubs (sparsescale.v1) are generated at build time from proto/; the
build folder's client/python is the importable package (see docs/ARCHITECTURE.md).
"""

from sparsescale.client import Checkpoint, Client, default_address, new_request_id, to_dict
from sparsescale.errors import SparsescaleError
from sparsescale.safetensors_reader import SafetensorsFormatError, read_safetensors

__all__ = ["Checkpoint", "Client", "SafetensorsFormatError", "SparsescaleError",
           "default_address", "new_request_id", "read_safetensors", "to_dict"]
