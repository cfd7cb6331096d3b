# SPDX-License-Identifier: MIT
"""Image folders through the binding (load_image_folder): the committed
pictures of tests/data/folder_ref against the PIL fixture, the images array
sharing the C set's memory and keeping it alive, labels from sub-folders,
bad files and bad arguments raising, progress and cancelling."""
import gc
import os
import shutil
import tempfile
import unittest

from support import REPO, gm, run_python

try:
    import numpy as np
except ImportError:  # pragma: no cover - the no-numpy run
    np = None

DATA = REPO / "tests" / "data"
PICS = DATA / "folder_ref"


def fixture(side, channels):
    """{file: list of bytes} of reference_folder.txt for one side and C."""
    lines = (DATA / "reference_folder.txt").read_text().splitlines()
    assert lines[0] == "genmodel-folder-reference 1"
    out, i = {}, 1
    while i < len(lines):
        if lines[i].startswith("#"):
            i += 1
            continue
        name, c, s = lines[i].split()
        if int(c) == channels and int(s) == side:
            out[name] = [int(v) for v in lines[i + 1].split()]
        i += 2
    return out


@unittest.skipIf(np is None, "needs numpy")
class ImageFolder(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="gm-py-folder.")

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def test_against_pil_fixture(self):
        for channels in (3, 1):
            f = gm.load_image_folder(PICS, side=10, channels=channels,
                                     background=(30, 60, 90), threads=2)
            self.assertEqual(f.images.shape, (6, channels, 10, 10))
            self.assertEqual(f.images.dtype, np.uint8)
            self.assertIsNone(f.labels)
            self.assertEqual(f.classes, [])
            self.assertEqual(f.skipped, 0)
            ref = fixture(10, channels)
            self.assertEqual(sorted(ref), f.names)
            for i, name in enumerate(f.names):
                diff = np.abs(f.images[i].astype(int).ravel() - np.array(ref[name]))
                self.assertLessEqual(diff.max(), 2, name)

    def test_zero_copy_and_lifetime(self):
        base = gm.live_allocations()
        images = gm.load_image_folder(PICS, side=8).images
        self.assertFalse(images.flags.writeable)
        self.assertFalse(images.flags.owndata)
        with self.assertRaises(ValueError):
            images[0, 0, 0, 0] = 1
        copy = images.copy()
        gc.collect()
        self.assertGreater(gm.live_allocations(), base)  # the set is alive
        self.assertTrue(np.array_equal(images, copy))
        view = images[2:4]
        del images
        gc.collect()
        self.assertTrue(np.array_equal(view, copy[2:4]))
        del view
        gc.collect()
        self.assertEqual(gm.live_allocations(), base)

    def test_labels_and_skip(self):
        for cls, files in (("zebra", ["a_rgba_37x20.png", "e_grey_40x30.jpg"]),
                           ("ant", ["d_rgb_64x40.png"])):
            os.mkdir(os.path.join(self.tmp, cls))
            for name in files:
                shutil.copy(PICS / name, os.path.join(self.tmp, cls, name))
        f = gm.load_image_folder(self.tmp, side=4, labels=True)
        self.assertEqual(f.classes, ["ant", "zebra"])
        self.assertEqual(f.names, ["ant/d_rgb_64x40.png", "zebra/a_rgba_37x20.png",
                                   "zebra/e_grey_40x30.jpg"])
        self.assertEqual(f.labels.tolist(), [0, 1, 1])
        self.assertEqual(f.labels.dtype, np.int32)
        with open(os.path.join(self.tmp, "zebra", "broken.png"), "wb") as fh:
            fh.write(b"\x89PNG\r\n\x1a\n garbage")
        with self.assertRaises(gm.FormatError) as cm:
            gm.load_image_folder(self.tmp, side=4, labels=True)
        self.assertIn("zebra/broken.png", str(cm.exception))
        self.assertIn("gm_image_folder_load", str(cm.exception))
        f = gm.load_image_folder(self.tmp, side=4, labels=True, skip_bad=True)
        self.assertEqual(f.skipped, 1)
        self.assertEqual(len(f.names), 3)

    def test_same_result_on_1_and_2_threads(self):
        a = gm.load_image_folder(PICS, side=7, channels=1, threads=1)
        b = gm.load_image_folder(PICS, side=7, channels=1, threads=2)
        self.assertTrue(np.array_equal(a.images, b.images))

    def test_progress_and_cancel(self):
        calls = []
        gm.load_image_folder(PICS, side=4, threads=1,
                             progress=lambda done, total: calls.append((done, total)))
        self.assertEqual(calls, [(i, 6) for i in range(1, 7)])
        with self.assertRaises(gm.StateError):
            gm.load_image_folder(PICS, side=4, threads=1, progress=lambda d, t: d >= 2)

        def boom(done, total):
            raise KeyError("from the callback")
        with self.assertRaises(KeyError):
            gm.load_image_folder(PICS, side=4, progress=boom)
        with self.assertRaises(TypeError):
            gm.load_image_folder(PICS, progress=3)

    def test_bad_arguments(self):
        with self.assertRaises(gm.FileError):
            gm.load_image_folder(os.path.join(self.tmp, "missing"))
        with self.assertRaises(gm.FormatError):
            gm.load_image_folder(self.tmp)  # empty
        for kw in (dict(side=0), dict(side=5000), dict(channels=2), dict(threads=-1),
                   dict(side=1.5), dict(background=(256, 0, 0)), dict(background="red"),
                   dict(max_pixels=0), dict(side=2 ** 80)):
            with self.subTest(**{k: repr(v) for k, v in kw.items()}):
                with self.assertRaises(gm.InvalidArgument):
                    gm.load_image_folder(PICS, **kw)


class WithoutNumpy(unittest.TestCase):
    def test_ctypes_array_and_array_labels(self):
        r = run_python(f"""
            import sys
            sys.modules["numpy"] = None
            import array, ctypes, gc
            import genmodel as gm
            start = gm.live_allocations()
            f = gm.load_image_folder({str(PICS)!r}, side=4)
            assert isinstance(f.images, ctypes.Array) and len(f.images) == 6 * 3 * 16
            assert f.labels is None and len(f.names) == 6
            first = bytes(f.images[:48])
            gc.collect()
            assert bytes(f.images[:48]) == first
            del f
            gc.collect()
            assert gm.live_allocations() == start, gm.live_allocations()
            print("ok")
            """)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), "ok")


if __name__ == "__main__":
    unittest.main()
