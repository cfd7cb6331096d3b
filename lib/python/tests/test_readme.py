# SPDX-License-Identifier: MIT
"""The README's Python example is examples/python/quickstart.py's code, which
ctest runs (example_python_quickstart, python_installed)."""
import re
import unittest

from support import REPO


class ReadmeQuickstart(unittest.TestCase):
    def test_readme_shows_the_quickstart(self):
        script = (REPO / "examples" / "python" / "quickstart.py").read_text()
        marker = script.index("# ---- README")
        code = script[script.index("\n", marker) + 1:]
        blocks = re.findall(r"^```python\n(.*?)^```$", (REPO / "README.md").read_text(),
                            re.S | re.M)
        self.assertIn(code, blocks, "README.md's Python example differs from "
                      "examples/python/quickstart.py after its '# ---- README' line")


if __name__ == "__main__":
    unittest.main()
