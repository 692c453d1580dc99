"""The project's own safetensors reader on hand-made files: values, shapes, dtypes, metadata,
and malformed files refused with a message naming the tensor and the problem."""

import json
import struct
import unittest

import numpy as np

from sparsescale.safetensors_reader import SafetensorsFormatError, read_safetensors_ours


def make_file(tensors, metadata=None, header_patch=None):
    """Safetensors bytes of {name: numpy array}, as the trainer's writer lays them out."""
    header, body = {}, b""
    for name, array in tensors.items():
        dtype = {np.float32: "F32", np.int64: "I64", np.uint8: "U8"}[array.dtype.type]
        data = array.astype(array.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": dtype, "shape": list(array.shape),
                        "data_offsets": [len(body), len(body) + len(data)]}
        body += data
    if metadata:
        header["__metadata__"] = metadata
    header.update(header_patch or {})
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + body


class SafetensorsReader(unittest.TestCase):
    def test_tensors_read_back_with_their_values_shapes_and_metadata(self):
        weight = np.array([[1, -2, 3.5], [0, 5, 6]], dtype=np.float32)
        step = np.array([42], dtype=np.int64)
        mask = np.arange(4, dtype=np.uint8)
        data = make_file({"layer.weight": weight, "trainer.step": step, "mask": mask},
                         metadata={"format": "test", "note": 'quote " and \\'})
        tensors, metadata = read_safetensors_ours(data)
        np.testing.assert_array_equal(tensors["layer.weight"], weight)
        self.assertEqual(tensors["layer.weight"].dtype, np.float32)
        self.assertEqual(int(tensors["trainer.step"][0]), 42)
        np.testing.assert_array_equal(tensors["mask"], mask)
        self.assertEqual(metadata, {"format": "test", "note": 'quote " and \\'})

    def test_arrays_are_writable_copies(self):
        tensors, _ = read_safetensors_ours(make_file({"w": np.ones(3, dtype=np.float32)}))
        tensors["w"][0] = 7
        self.assertEqual(tensors["w"][0], 7)

    def test_offsets_past_the_data_name_the_tensor(self):
        data = make_file({"w": np.ones(3, dtype=np.float32)},
                         header_patch={"w": {"dtype": "F32", "shape": [4],
                                             "data_offsets": [0, 16]}})
        with self.assertRaisesRegex(SafetensorsFormatError, "'w'.*data_offsets"):
            read_safetensors_ours(data)

    def test_unknown_dtype_names_the_tensor(self):
        data = make_file({}, header_patch={"x": {"dtype": "C64", "shape": [1],
                                                 "data_offsets": [0, 8]}})
        with self.assertRaisesRegex(SafetensorsFormatError, "'x'"):
            read_safetensors_ours(data)

    def test_truncated_files_are_refused(self):
        data = make_file({"w": np.ones(3, dtype=np.float32)})
        with self.assertRaisesRegex(SafetensorsFormatError, "shorter"):
            read_safetensors_ours(data[:5])
        with self.assertRaisesRegex(SafetensorsFormatError, "header length"):
            read_safetensors_ours(data[:20])


if __name__ == "__main__":
    unittest.main()
