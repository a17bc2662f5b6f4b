"""Write an HTML template for `dvc plots show --html-template` that holds Vega, Vega-Lite and
Vega-Embed inline, so the plots page renders offline (DVC's default page loads them from a
CDN). Reads the npm tarballs that `make plots` fetches with `npm pack`:

    python scripts/vega_template.py FOLDER_WITH_TGZ OUTPUT.html
"""

import sys
import tarfile
from pathlib import Path

BUILDS = {"vega": "package/build/vega.min.js", "vega-lite": "package/build/vega-lite.min.js",
          "vega-embed": "package/build/vega-embed.min.js"}


def main(folder: Path, output: Path) -> None:
    scripts = []
    for name, member in BUILDS.items():  # in load order: vega-lite and vega-embed need vega
        (tarball,) = sorted(folder.glob(f"{name}-[0-9]*.tgz"))
        with tarfile.open(tarball) as archive:
            code = archive.extractfile(member).read().decode("utf-8").replace("</script", "<\\/script")
        scripts.append(f"<script>/* {tarball.name} */\n{code}\n</script>")
    page = ("<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n<title>DVC plots</title>\n"
            + "\n".join(scripts) + "\n</head>\n<body>\n{plot_divs}\n</body>\n</html>\n")
    output.write_text(page, encoding="utf-8")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
