"""The one exception type of the client: a failed RPC with its gRPC status code and message."""

import grpc


class SparsescaleError(Exception):
    """A call to the coordinator failed.

    `code` is the grpc.StatusCode (NOT_FOUND, INVALID_ARGUMENT, FAILED_PRECONDITION, ...),
    `message` the coordinator's message (it names the offending field for bad input) and
    `method` the RPC that failed, e.g. "GetJob".
    """

    def __init__(self, code, message, method=""):
        self.code = code
        self.message = message
        self.method = method
        name = code.name if isinstance(code, grpc.StatusCode) else str(code)
        where = f"{method}: " if method else ""
        super().__init__(f"{where}{name}: {message}")

    @classmethod
    def from_rpc_error(cls, error, method=""):
        """Converts a grpc.RpcError (which is also a grpc.Call) into a SparsescaleError."""
        code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
        details = error.details() if hasattr(error, "details") else str(error)
        return cls(code, details or "", method)
