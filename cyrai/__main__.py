"""python -m cyrai [--path]: the module's path and the frameworks it will use; with
--path the path alone (redis-server --loadmodule "$(python -m cyrai --path)")."""

import sys

from . import describe, module_path


def main(argv):
    if argv == ["--path"]:
        print(module_path())
    elif not argv:
        print(describe())
    else:
        sys.exit("usage: python -m cyrai [--path]")


main(sys.argv[1:])
