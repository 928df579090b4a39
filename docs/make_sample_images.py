"""Renders docs/images/preview-samples.png: what the preview engine returns for three requests.

python docs/make_sample_images.py
"""

from pathlib import Path

from PIL import Image

from imagescope.engines import ImageJob, PreviewEngine
from imagescope.engines.rewriter import RuleBasedRewriter
from imagescope.engines.watermark import apply_watermark
from imagescope.models.catalog import Catalog

REQUESTS = [
    ("qwen-image-plus", "一只橘猫坐在窗台上，窗外是春天的樱花", 1328, 1328, 42, True),
    (
        "wan2.5-t2i-preview",
        "A flower shop with exquisite windows, a beautiful wooden door, and flowers on display",
        1280,
        1280,
        12345,
        False,
    ),
    (
        "wan2.2-t2i-flash",
        "Snowy ground, a small white chapel, aurora borealis, winter scene, soft light.",
        1024,
        1024,
        7,
        True,
    ),
]


def main() -> None:
    catalog, engine, rewriter = Catalog(), PreviewEngine(), RuleBasedRewriter()
    tiles = []
    for model, prompt, w, h, seed, watermark in REQUESTS:
        image = engine.generate(ImageJob(model, rewriter.rewrite(prompt, model), "", w, h, seed, 0, 1))
        if watermark:
            image = apply_watermark(image, catalog.models[model].watermark_text)
        tiles.append(image.resize((420, 420), Image.Resampling.LANCZOS))
    sheet = Image.new("RGB", (3 * 420 + 4 * 10, 440), "white")
    for i, tile in enumerate(tiles):
        sheet.paste(tile, (10 + i * 430, 10))
    out = Path(__file__).parent / "images" / "preview-samples.png"
    sheet.save(out, optimize=True)
    print(out)


if __name__ == "__main__":
    main()
