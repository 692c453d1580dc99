"""The client side of tokens and TLS, against an in-process gRPC server over loopback that
records what arrives: the token travels as `authorization: Bearer <token>`, tls_ca makes a
channel that verifies the server against that CA, and errors keep their status code."""

import hashlib
import os
import subprocess
import tempfile
import unittest
from concurrent import futures

import grpc
import numpy as np
from unit_safetensors_test import make_file

from sparsescale import Client, SparsescaleError
from sparsescale.v1 import coordinator_pb2 as pb
from sparsescale.v1 import coordinator_pb2_grpc as pb_grpc


class RecordingService(pb_grpc.ClientServiceServicer):
    """Answers GetJob for id "known" and NOT_FOUND otherwise; keeps each call's metadata."""

    def __init__(self):
        self.metadata = []

    checkpoint = b""  # what DownloadCheckpoint sends, in 3-byte chunks
    claimed_sha256 = ""  # its info's sha256 ("" = the true one)

    def DownloadCheckpoint(self, request, context):
        data = self.checkpoint
        sha = self.claimed_sha256 or hashlib.sha256(data).hexdigest()
        yield pb.CheckpointChunk(info=pb.CheckpointInfo(job_id=request.job_id, step=8,
                                                        size_bytes=len(data), sha256=sha))
        for begin in range(0, len(data), 3):
            yield pb.CheckpointChunk(data=data[begin:begin + 3])

    def GetJob(self, request, context):
        self.metadata.append(dict(context.invocation_metadata()))
        if request.id != "known":
            context.abort(grpc.StatusCode.NOT_FOUND, f"id: job {request.id} does not exist")
        return pb.Job(id=request.id)


def start_server(credentials=None):
    service = RecordingService()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    pb_grpc.add_ClientServiceServicer_to_server(service, server)
    if credentials is None:
        port = server.add_insecure_port("127.0.0.1:0")
    else:
        port = server.add_secure_port("127.0.0.1:0", credentials)
    server.start()
    return server, service, port


def self_signed_certificate(directory):
    """A key and a self-signed certificate for "localhost" (openssl), as (key, cert) bytes."""
    key, cert = os.path.join(directory, "key.pem"), os.path.join(directory, "cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
                    "-keyout", key, "-out", cert], check=True, capture_output=True)
    with open(key, "rb") as k, open(cert, "rb") as c:
        return k.read(), c.read()


class ClientTransport(unittest.TestCase):
    def test_token_is_sent_as_bearer_authorization_metadata(self):
        server, service, port = start_server()
        try:
            with Client(f"127.0.0.1:{port}", token="s3cret", timeout=5) as client:
                self.assertEqual(client.get_job("known").id, "known")
            with Client(f"127.0.0.1:{port}", timeout=5) as client:
                client.get_job("known")
        finally:
            server.stop(None)
        self.assertEqual(service.metadata[0].get("authorization"), "Bearer s3cret")
        self.assertNotIn("authorization", service.metadata[1])

    def test_errors_keep_the_status_code_message_and_method(self):
        server, _, port = start_server()
        try:
            with Client(f"127.0.0.1:{port}", timeout=5) as client:
                with self.assertRaises(SparsescaleError) as caught:
                    client.get_job("missing")
        finally:
            server.stop(None)
        error = caught.exception
        self.assertEqual(error.code, grpc.StatusCode.NOT_FOUND)
        self.assertEqual(error.message, "id: job missing does not exist")
        self.assertEqual(str(error), "GetJob: NOT_FOUND: id: job missing does not exist")

    def test_tls_ca_makes_a_channel_that_verifies_the_server(self):
        with tempfile.TemporaryDirectory() as tmp:
            key, cert = self_signed_certificate(tmp)
            ca_path = os.path.join(tmp, "cert.pem")
            server, service, port = start_server(grpc.ssl_server_credentials([(key, cert)]))
            try:
                with Client(f"localhost:{port}", token="t", tls_ca=ca_path, timeout=5) as c:
                    self.assertEqual(c.get_job("known").id, "known")
                with Client(f"localhost:{port}", timeout=5) as plaintext:
                    with self.assertRaises(SparsescaleError) as caught:
                        plaintext.get_job("known")
            finally:
                server.stop(None)
        self.assertEqual(service.metadata[0].get("authorization"), "Bearer t")
        self.assertEqual(caught.exception.code, grpc.StatusCode.UNAVAILABLE)

    def test_a_checkpoint_is_reassembled_checked_and_parsed(self):
        server, service, port = start_server()
        weight = np.arange(6, dtype=np.float32).reshape(2, 3)
        service.checkpoint = make_file({"w": weight}, metadata={"step": "8"})
        try:
            with Client(f"127.0.0.1:{port}", timeout=5) as client:
                checkpoint = client.download_checkpoint("j")
                service.claimed_sha256 = "0" * 64
                with self.assertRaises(SparsescaleError) as caught:
                    client.download_checkpoint("j")
        finally:
            server.stop(None)
        self.assertEqual(checkpoint.data, service.checkpoint)
        np.testing.assert_array_equal(checkpoint.tensors["w"], weight)
        self.assertEqual(checkpoint.metadata, {"step": "8"})
        self.assertEqual(caught.exception.code, grpc.StatusCode.DATA_LOSS)
        self.assertIn("expected", caught.exception.message)
        self.assertIn("0" * 64, caught.exception.message)

    def test_an_unknown_state_name_is_refused_before_sending(self):
        with Client("127.0.0.1:1") as client:
            with self.assertRaises(SparsescaleError) as caught:
                client.list_jobs(states=["finished"])
        self.assertEqual(caught.exception.code, grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("states: unknown job state 'finished'", caught.exception.message)

    def test_retry_job_calls_retry_job_or_names_the_missing_rpc(self):
        server, _, port = start_server()
        try:
            with Client(f"127.0.0.1:{port}", timeout=5) as client:
                if "RetryJob" in pb.DESCRIPTOR.services_by_name["ClientService"].methods_by_name:
                    # The API has it; this server does not implement it.
                    with self.assertRaises(SparsescaleError) as caught:
                        client.retry_job("any")
                    self.assertEqual(caught.exception.code, grpc.StatusCode.UNIMPLEMENTED)
                else:
                    with self.assertRaisesRegex(NotImplementedError, "ClientService.RetryJob"):
                        client.retry_job("any")
        finally:
            server.stop(None)


if __name__ == "__main__":
    unittest.main()
