"""Generated demo catalogue that behaves like the Shopee "Price Match Guarantee" data.

The competition data cannot be shipped, so the app's default catalogue and the tests use
this generator. It copies what makes the real task hard: long-tailed group sizes, mixed
Indonesian/English titles rewritten by every seller (promo words, unit spellings, case,
word order, typos, literal ``\\xNN`` escapes, empty titles), hard negatives that differ
only in size, colour or pack count, and product photos that sellers re-shoot, crop, stamp
or reuse byte for byte.

`plan_demo` draws everything that is not a pixel (cheap, testable without rendering);
`write_demo_catalog` renders the photos and writes catalog.csv and README.md. The same
(listings, seed) gives byte-identical files: all randomness comes from numpy generators
seeded with `seed` (the plan from `default_rng(seed)`, each photo from its own sub-stream).
"""

from __future__ import annotations

import colorsys
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import imagehash
import numpy as np
import pandas as pd
from PIL import Image, ImageDraw, ImageEnhance, ImageFont

COLUMNS = ["posting_id", "image", "image_phash", "title", "label_group"]

# Real group sizes (2:6979, 3:1779, 4:862, 5:468 ... 10:48 ... 51) follow P(k) ~ k^-3.0,
# which also gives the real mean of 3.1 listings per group.
GROUP_SIZE_EXPONENT = 3.0
MAX_GROUP = 50
SINGLETON_SHARE = 0.02
EMPTY_TITLE_SHARE = 0.01
DECORATION_SHARE = 0.012  # with "café blend" coffee: ~2% of titles carry \xNN escapes
PHOTO_KINDS = ("official", "own", "reuse")
PHOTO_SHARES = (0.45, 0.40, 0.15)
FAMILY_VARIANTS = (1, 2, 3, 4)
FAMILY_VARIANT_SHARES = (0.55, 0.28, 0.12, 0.05)
# Sub-streams of the seed, so each photo is drawn independently of the title plan.
_DESIGN, _OFFICIAL, _PHOTO, _SHOP = 1, 2, 3, 4


@dataclass(frozen=True)
class Kind:
    """A product type: how sellers name it, which variants it has, how its photo looks."""

    names_id: tuple[str, ...]
    names_en: tuple[str, ...]
    shape: str
    sizes: tuple[tuple[float | str, str], ...]
    coloured: bool
    extras: tuple[str, ...]


KINDS = {  # names (Indonesian, English), shape, variant sizes, comes in colours, descriptors
    "facial_wash": Kind(
        ("sabun cuci muka", "sabun muka"), ("facial wash", "face wash", "facial foam"),
        "tube", ((50, "ml"), (100, "ml"), (220, "ml")), False,
        ("acne care", "brightening", "oil control", "untuk kulit berminyak")),
    "shampoo": Kind(
        ("sampo", "shampo"), ("shampoo",),
        "bottle", ((170, "ml"), (340, "ml"), (450, "ml")), False,
        ("anti ketombe", "anti dandruff", "hair fall", "lembut berkilau", "menthol")),
    "toothpaste": Kind(
        ("pasta gigi", "odol"), ("toothpaste",),
        "tube", ((75, "gr"), (120, "gr"), (190, "gr")), False,
        ("herbal", "whitening", "gigi sensitif", "fresh mint")),
    "serum": Kind(
        ("serum wajah", "serum muka"), ("face serum", "serum"),
        "dropper", ((15, "ml"), (20, "ml"), (30, "ml")), False,
        ("vitamin c", "niacinamide", "glowing", "hyaluronic")),
    "lipstick": Kind(
        ("lipstik matte", "lipstik"), ("matte lipstick", "lip cream"),
        "lipstick", ((3.5, "gr"),), True,
        ("tahan lama", "long lasting", "waterproof", "halal")),
    "mask": Kind(
        ("masker medis", "masker"), ("face mask", "surgical mask"),
        "box", ((30, "isi"), (50, "isi")), True,
        ("3 ply", "4 ply", "earloop", "duckbill")),
    "coffee": Kind(
        ("kopi bubuk", "kopi"), ("ground coffee", "coffee powder"),
        "pouch", ((200, "gr"), (500, "gr"), (1, "kg")), False,
        ("arabika", "robusta", "gayo", "toraja", "café blend")),
    "milk": Kind(
        ("susu bubuk", "susu"), ("milk powder", "formula milk"),
        "can", ((400, "gr"), (800, "gr"), (900, "gr")), False,
        ("vanila", "coklat", "madu", "1-3 tahun")),
    "cooking_oil": Kind(
        ("minyak goreng",), ("cooking oil", "palm oil"),
        "bottle", ((1, "l"), (2, "l"), (5, "l")), False,
        ("kemasan pouch", "refill", "sawit", "2x penyaringan")),
    "water_bottle": Kind(
        ("botol minum", "tumbler"), ("water bottle", "drinking bottle"),
        "bottle", ((500, "ml"), (750, "ml"), (1, "l")), True,
        ("bpa free", "stainless", "anti bocor", "leak proof")),
    "shoes": Kind(
        ("sepatu sneakers", "sepatu"), ("sneakers", "shoes", "running shoes"),
        "shoe", (("36-40", "range"), ("39-43", "range")), True,
        ("pria", "wanita", "casual", "sport", "import")),
    "bag": Kind(
        ("tas selempang", "tas"), ("sling bag", "shoulder bag"),
        "bag", (), True,
        ("wanita", "kulit", "korea", "waterproof")),
    "tshirt": Kind(
        ("kaos polos", "kaos"), ("t-shirt", "tshirt", "plain tee"),
        "shirt", (("M", "cloth"), ("L", "cloth"), ("XL", "cloth"), ("XXL", "cloth")), True,
        ("cotton combed 30s", "oversize", "pria", "unisex")),
    "pants": Kind(
        ("celana chino", "celana panjang"), ("chino pants", "long pants"),
        "pants", (("28", "waist"), ("30", "waist"), ("32", "waist"), ("34", "waist")), True,
        ("slimfit", "pria", "stretch")),
    "phone_case": Kind(
        ("casing hp", "case hp", "softcase"), ("phone case", "case"),
        "phone", tuple((model, "model") for model in
                       ("Nova A12", "Nova A21", "Lumo X3", "Lumo X5", "Priva 11", "Priva 11 Pro")), True,
        ("silikon", "anti crack", "shockproof", "bening")),
    "cable": Kind(
        ("kabel data", "kabel charger"), ("data cable", "charging cable", "usb cable"),
        "cable", ((1, "m"), (2, "m")), False,
        ("type c", "micro usb", "fast charging", "3A", "braided")),
    "wet_wipes": Kind(
        ("tisu basah",), ("wet wipes", "baby wipes"),
        "pack", ((10, "isi"), (50, "isi"), (80, "isi")), False,
        ("non alkohol", "fragrance free", "bayi")),
    "hijab": Kind(
        ("kerudung segi empat", "jilbab", "hijab segi empat"), ("square hijab", "hijab"),
        "hijab", (), True,
        ("voal", "paris", "polos", "motif")),
    "drill_bit": Kind(
        ("mata bor besi", "mata bor"), ("drill bit", "twist drill"),
        "box", ((6, "mm"), (8, "mm"), (10, "mm"), (12, "mm")), False,
        ("hss", "cobalt", "beton")),
    "chili_sauce": Kind(
        ("sambal", "saus sambal"), ("chili sauce", "hot sauce"),
        "bottle", ((135, "ml"), (275, "ml"), (340, "ml")), False,
        ("pedas", "extra hot", "bawang")),
}

COLOURS = {  # English name -> (Indonesian name, RGB)
    "red": ("merah", (200, 30, 40)), "black": ("hitam", (30, 30, 30)),
    "white": ("putih", (235, 235, 235)), "blue": ("biru", (30, 80, 190)),
    "green": ("hijau", (40, 150, 70)), "yellow": ("kuning", (240, 200, 30)),
    "grey": ("abu-abu", (128, 128, 128)), "brown": ("coklat", (120, 75, 40)),
    "pink": ("merah muda", (240, 140, 170)), "purple": ("ungu", (120, 60, 160)),
    "navy": ("navy", (20, 35, 80)), "orange": ("oranye", (240, 130, 30)),
    "cream": ("krem", (235, 220, 185)), "maroon": ("maroon", (110, 20, 40)),
    "turquoise": ("tosca", (40, 170, 160)),
}

# First spelling is the canonical one printed on the product label.
SIZE_SPELLINGS = {
    "ml": ("{v}ml", "{v} ml", "{v}ML", "{v} mL", "{v}mililiter", "{v} Ml"),
    "l": ("{v}L", "{v} liter", "{v}ltr", "{v} Litre", "{k}ml", "{k} ML"),
    "gr": ("{v}gr", "{v} gram", "{v}g", "{v}GR", "{v} grm", "{v}gram"),
    "kg": ("{v}kg", "{v} kg", "{v}KG", "{v} kilo", "{k}gr", "{k} gram"),
    "mm": ("{v}mm", "{v} mm", "{v}MM", "{v} mili"),
    "m": ("{v}m", "{v} meter", "{v}M", "{v} mtr", "{c}cm"),
    "isi": ("isi {v}", "{v} pcs", "{v}pcs", "isi {v} pcs", "{v} lembar", "1 box {v}"),
    "cloth": ("{v}", "size {v}", "uk {v}", "ukuran {v}"),
    "waist": ("uk {v}", "size {v}", "{v}", "W{v}"),
    "range": ("{v}", "uk {v}", "size {v}", "ukuran {v}"),
    "model": ("{v}", "for {v}", "{nospace}", "type {v}"),
}
PACK_SPELLINGS = ("isi {n}", "{n} pcs", "{n}pcs", "x{n}", "paket {n}", "({n} pcs)", "bundle {n}")
PACKS = (2, 3, 6, 12)
PROMOS = ("PROMO", "READY STOCK", "COD", "ORIGINAL", "BPOM", "Murah", "Grosir", "100% Ori", "TERMURAH",
          "BISA COD", "Best Seller", "NEW", "SALE", "Free Ongkir", "Ready", "ORI", "Diskon", "Hot Item")
DECORATIONS = ("✔", "★", "❤", "🔥", "✨", "💯", "™", "®")
SHOP_HEADS = ("Toko", "Berkah", "Sinar", "Grosir", "Mitra", "Cahaya", "Sumber", "Rumah", "Pusat", "Galeri",
              "Dunia", "Gudang", "Kios", "Lapak")
SHOP_TAILS = ("Jaya", "Abadi", "Makmur", "Store", "Shop", "Official", "Mart", "Sejahtera", "Murah", "Online",
              "ID", "Collection", "Sentosa", "Grosir")
BRAND_ONSETS = ("b", "d", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "j", "g", "h", "w", "ch", "tr")
BRAND_ENDINGS = ("", "", "n", "r", "s", "x", "ra", "na", "ta", "ko", "ya", "la")
REAL_BRAND_PARTS = ("nike", "puma", "sony", "dove", "lux", "oppo", "vivo", "asus", "acer", "zara", "lego")
BRAND_SUFFIXES = ("Beauty", "Care", "Living", "Tech", "Kids", "Sport", "Indo", "Home")
BADGES = ("READY", "PROMO", "COD", "ORI", "SALE 50%", "FREE ONGKIR", "BEST SELLER", "NEW")
BACKGROUNDS = ("white", "plain", "gradient", "blotch", "table")
CASES = ("keep", "title", "upper", "lower")


def _pick(rng: np.random.Generator, seq: Sequence):
    """One element of a Python sequence (rng.choice would turn tuples into numpy arrays)."""
    return seq[int(rng.integers(len(seq)))]


def _num(value: float) -> str:
    """220 -> '220', 3.5 -> '3.5'."""
    return f"{value:g}"


# ---------------------------------------------------------------- plan: products and groups

def group_sizes(listings: int, rng: np.random.Generator) -> list[int]:
    """Listings per product: a power law like the real data, one guaranteed big group
    (>10 listings from a few hundred listings, >=30 from 1000) and ~2% singletons."""
    singles = round(listings * SINGLETON_SHARE)
    target = listings - singles
    ks = np.arange(2, MAX_GROUP + 1)
    weights = ks ** -GROUP_SIZE_EXPONENT
    draws = rng.choice(ks, size=max(target, 1), p=weights / weights.sum())
    sizes = [min(target, MAX_GROUP, max(12, listings // 30))]
    total = sizes[0]
    for k in draws:
        if total >= target:
            break
        sizes.append(min(int(k), target - total))
        total += sizes[-1]
    return [s for s in sizes if s > 0] + [1] * singles


def _brand_names(count: int, rng: np.random.Generator) -> list[str]:
    """Invented pronounceable brand names (Lumira, Zetako Care...), unique."""
    names: set[str] = set()
    while len(names) < count:
        syllables = [_pick(rng, BRAND_ONSETS) + _pick(rng, "aeiou") for _ in range(int(rng.integers(2, 4)))]
        name = ("".join(syllables) + _pick(rng, BRAND_ENDINGS)).capitalize()
        if rng.random() < 0.2:
            name += " " + _pick(rng, BRAND_SUFFIXES)
        if not any(part in name.lower() for part in REAL_BRAND_PARTS):
            names.add(name)
    return sorted(names)


def _variant_axes(kind: Kind) -> list[str]:
    """What siblings of a family may differ in: these make the hard negatives."""
    axes = ["pack"] if not kind.sizes or kind.sizes[0][1] != "isi" else []
    axes += ["size"] * 2 if len(kind.sizes) > 1 else []
    axes += ["colour"] * 2 if kind.coloured else []
    return axes


def _family(family: int, brand: str, kind_key: str, rng: np.random.Generator) -> list[dict]:
    """One brand+type and 1-4 products that differ only along one axis (size, colour or pack)."""
    kind = KINDS[kind_key]
    colours = sorted(COLOURS)
    base = {
        "family": family, "brand": brand, "kind": kind_key,
        "colour": _pick(rng, colours) if kind.coloured else "",
        "size": _size_text(_pick(rng, kind.sizes)) if kind.sizes else "",
        "pack": 1 if rng.random() < 0.9 else _pick(rng, PACKS),
        "extras": tuple(sorted(str(e) for e in
                               rng.choice(kind.extras, size=int(rng.integers(1, 3)), replace=False))),
    }
    axis = _pick(rng, _variant_axes(kind))
    options = {"size": [_size_text(s) for s in kind.sizes], "colour": colours, "pack": [1, *PACKS]}[axis]
    count = min(int(rng.choice(FAMILY_VARIANTS, p=FAMILY_VARIANT_SHARES)), len(options))
    others = [o for o in options if o != base[axis]]
    values = [base[axis], *(others[i] for i in rng.choice(len(others), size=count - 1, replace=False))]
    return [{**base, axis: value} for value in values]


def plan_products(listings: int, rng: np.random.Generator) -> pd.DataFrame:
    """One row per product (= label group): brand, type, variant attributes and listing count."""
    sizes = rng.permutation(group_sizes(listings, rng))
    brands = _brand_names(max(12, len(sizes) // 3), rng)
    kinds = sorted(KINDS)
    products: list[dict] = []
    used: set[tuple[str, str]] = set()
    while len(products) < len(sizes):
        kind, brand = _pick(rng, kinds), _pick(rng, brands)
        if (brand, kind) not in used:
            used.add((brand, kind))
            products += _family(len(used) - 1, brand, kind, rng)
    table = pd.DataFrame(products[: len(sizes)])
    codes = rng.choice(10**7, size=len(table), replace=False)
    table.insert(0, "label_group", [f"{c:09d}" for c in codes])
    table.insert(0, "product", range(len(table)))
    table["listings"] = sizes
    return table


# ---------------------------------------------------------------- plan: titles

def _size_text(size: tuple[float | str, str]) -> str:
    """Canonical size text, e.g. (220, 'ml') -> '220ml'; printed on the product label."""
    return _format_size(SIZE_SPELLINGS[size[1]][0], size[0])


def _format_size(template: str, value: float | str) -> str:
    if isinstance(value, str):
        return template.format(v=value, nospace=value.replace(" ", ""))
    return template.format(v=_num(value), k=_num(value * 1000), c=_num(value * 100))


SIZES_BY_TEXT = {_size_text(s): s for kind in KINDS.values() for s in kind.sizes}


def _spell_size(text: str, rng: np.random.Generator) -> str:
    """The same size as a seller might write it: 220ml, 220 ML, 220mililiter, 1000ml for 1L..."""
    value, unit = SIZES_BY_TEXT[text]
    spelled = _format_size(_pick(rng, SIZE_SPELLINGS[unit]), value)
    return spelled.replace(".", ",") if rng.random() < 0.5 else spelled  # Indonesian decimal comma


def _spell_colour(colour: str, rng: np.random.Generator) -> str:
    name = COLOURS[colour][0] if rng.random() < 0.6 else colour
    return "warna " + name if rng.random() < 0.1 else name


def _kind_name(kind: Kind, rng: np.random.Generator) -> str:
    """Indonesian, English or both ('sabun cuci muka facial wash')."""
    roll = rng.random()
    if roll < 0.45:
        return _pick(rng, kind.names_id)
    if roll < 0.75:
        return _pick(rng, kind.names_en)
    return f"{_pick(rng, kind.names_id)} {_pick(rng, kind.names_en)}"


def _typo(word: str, rng: np.random.Generator) -> str:
    """Swap, drop or double one inner letter."""
    i = int(rng.integers(1, len(word) - 1))
    op = int(rng.integers(3))
    if op == 0:
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    return word[:i] + word[i + 1:] if op == 1 else word[:i] + word[i] + word[i:]


def _recase(text: str, case: str) -> str:
    return {"keep": text, "title": text.title(), "upper": text.upper(), "lower": text.lower()}[case]


def escape_non_ascii(text: str) -> str:
    """Write non-ASCII characters as literal UTF-8 byte escapes ('Café' -> 'Caf\\xc3\\xa9'),
    which is how the real titles store them."""
    return "".join(ch if ch.isascii() else "".join(f"\\x{b:02x}" for b in ch.encode()) for ch in text)


def _core_words(product, rng: np.random.Generator) -> list[str]:
    """Brand, type, descriptors and attributes, some dropped, in a seller's own order."""
    head = [product.brand, _kind_name(KINDS[product.kind], rng)]
    if rng.random() < 0.3:
        head.reverse()
    head += [extra for extra in product.extras if rng.random() < 0.6]
    attrs = []
    if product.colour and rng.random() < 0.85:
        attrs.append(_spell_colour(product.colour, rng))
    if product.size and rng.random() < 0.9:
        attrs.append(_spell_size(product.size, rng))
    if product.pack > 1 and rng.random() < 0.9:
        attrs.append(_pick(rng, PACK_SPELLINGS).format(n=product.pack))
    rng.shuffle(attrs)
    return head + attrs if rng.random() < 0.75 else head[:1] + attrs + head[1:]


def _title(product, shop: Shop, rng: np.random.Generator) -> str:
    """One seller's title for a product: core words plus typos, promo words, shop tag and case."""
    if rng.random() < EMPTY_TITLE_SHARE:
        return ""
    words = " ".join(_core_words(product, rng)).split()
    if rng.random() < 0.15:
        candidates = [i for i, w in enumerate(words) if w.isalpha() and len(w) >= 4]
        if candidates:
            i = _pick(rng, candidates)
            words[i] = _typo(words[i], rng)
    promos = list(dict.fromkeys(_pick(rng, shop.promos if rng.random() < 0.6 else PROMOS)
                                for _ in range(int(rng.choice(4, p=(0.3, 0.35, 0.25, 0.1))))))
    if promos and rng.random() < 0.5:
        words = [" ".join(promos), _pick(rng, ("-", "|", "!!", "~"))] + words
    elif promos:
        words += promos
    if rng.random() < shop.tag_share:
        words.insert(0, f"[{shop.name.upper().replace(' ', '')}]")
    title = _recase(" ".join(words), shop.case if rng.random() < 0.7 else _pick(rng, CASES))
    if rng.random() < DECORATION_SHARE:
        symbol = _pick(rng, DECORATIONS)
        title = f"{title} {symbol}" if rng.random() < 0.5 else f"{symbol} {title}"
    return escape_non_ascii(title)


# ---------------------------------------------------------------- plan: shops and listings

@dataclass(frozen=True)
class Shop:
    """A seller's habits, shared by all its listings (a realistic confounder across products)."""

    name: str
    case: str
    tag_share: float
    promos: tuple[str, ...]
    background: str
    colours: tuple[tuple[int, int, int], tuple[int, int, int]]
    watermark: bool


def _shop_count(listings: int) -> int:
    return max(2 * MAX_GROUP, listings // 4)


@functools.lru_cache(maxsize=8)
def shops(listings: int, seed: int) -> tuple[Shop, ...]:
    """The seller pool, from its own sub-stream so photos can look shops up without the plan."""
    rng = np.random.default_rng([seed, _SHOP])
    names: dict[str, None] = {}  # ordered, with constant-time lookups
    wanted = _shop_count(listings)
    # Heads, tails and numbers make 19,600 names. A pool needing more than half of them (a catalogue of 40k
    # listings or more) numbers a repeated name's branches instead of drawing again, which would slow down
    # towards the end of the name space and never end beyond it.
    branches = wanted > len(SHOP_HEADS) * len(SHOP_TAILS) * 100 // 2
    while len(names) < wanted:
        name = f"{_pick(rng, SHOP_HEADS)} {_pick(rng, SHOP_TAILS)}"
        name += _pick(rng, ("", "", f" {rng.integers(10, 100)}", str(rng.integers(1, 10))))
        if branches and name in names:
            name = f"{name} cabang {len(names)}"
        names.setdefault(name)
    return tuple(
        Shop(name, _pick(rng, CASES), float(rng.choice((0.0, 0.0, 0.3, 0.9))),
             tuple(_pick(rng, PROMOS) for _ in range(3)), _pick(rng, BACKGROUNDS),
             (_light_colour(rng), _light_colour(rng)), bool(rng.random() < 0.3))
        for name in names
    )


def _photo_sources(count: int, rng: np.random.Generator) -> list[str]:
    """How each listing of a product got its photo; the first one never reuses."""
    sources = [str(s) for s in rng.choice(PHOTO_KINDS, size=count, p=PHOTO_SHARES)]
    if sources[0] == "reuse":
        sources[0] = "official"
    return sources


def plan_demo(listings: int = 600, seed: int = 0) -> pd.DataFrame:
    """Every listing without its pixels: posting_id, image, title, label_group plus the
    hidden truth (product, family, brand, kind, colour, size, pack, shop, photo source)."""
    if listings < 1:
        raise ValueError(f"listings must be at least 1, got {listings}")
    rng = np.random.default_rng(seed)
    products = plan_products(listings, rng)
    pool = shops(listings, seed)
    rows = []
    for product in products.itertuples():
        images: list[str] = []
        sellers = rng.choice(len(pool), size=product.listings, replace=False)
        for shop_id, source in zip(sellers, _photo_sources(product.listings, rng)):
            image = _pick(rng, images) if source == "reuse" else rng.bytes(16).hex() + ".jpg"
            images.append(image)
            rows.append({
                "image": image, "title": _title(product, pool[shop_id], rng),
                "label_group": product.label_group, "product": product.product, "family": product.family,
                "brand": product.brand, "kind": product.kind, "colour": product.colour, "size": product.size,
                "pack": product.pack, "extras": product.extras, "shop": int(shop_id), "photo": source,
            })
    plan = pd.DataFrame(rows).iloc[rng.permutation(len(rows))].reset_index(drop=True)
    plan.insert(0, "posting_id", [f"demo_{i:07d}" for i in range(len(plan))])
    return plan


# ---------------------------------------------------------------- photos: the product

CANVAS = 256


@dataclass(frozen=True)
class Design:
    """How one product is drawn; siblings in a family share all but colour/size/pack."""

    shape: str
    body: tuple[int, int, int]
    label: tuple[int, int, int]
    accent: tuple[int, int, int]
    pattern: str
    aspect: float
    brand: str
    size: str
    pack: int


def _light_colour(rng: np.random.Generator) -> tuple[int, int, int]:
    return _hsv(rng.random(), rng.uniform(0.05, 0.3), rng.uniform(0.8, 1.0))


def _hsv(h: float, s: float, v: float) -> tuple[int, int, int]:
    return tuple(int(round(255 * c)) for c in colorsys.hsv_to_rgb(h, s, v))


def _shade(rgb: tuple[int, int, int], factor: float) -> tuple[int, int, int]:
    return tuple(min(255, int(c * factor)) for c in rgb)


def _ink(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    """Black or white, whichever reads on this colour."""
    return (20, 20, 20) if 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2] > 140 else (250, 250, 250)


def design(product, seed: int) -> Design:
    """Family look from the family's sub-stream; the product's own colour/size/pack on top."""
    rng = np.random.default_rng([seed, _DESIGN, int(product.family)])
    body = _hsv(rng.random(), rng.uniform(0.35, 0.9), rng.uniform(0.35, 0.95))
    label = _hsv(rng.random(), rng.uniform(0.0, 0.6), rng.uniform(0.1, 1.0))
    accent = _hsv(rng.random(), rng.uniform(0.4, 1.0), rng.uniform(0.3, 1.0))
    brand = product.brand.upper() if rng.random() < 0.5 else product.brand
    return Design(KINDS[product.kind].shape, COLOURS[product.colour][1] if product.colour else body, label,
                  accent, _pick(rng, ("plain", "band", "dots", "ring")), float(rng.uniform(0.85, 1.15)),
                  brand, product.size, int(product.pack))


def _bottle(d: ImageDraw.ImageDraw, c: Design):
    d.rounded_rectangle((78, 72, 178, 242), 26, fill=c.body)
    d.rectangle((110, 44, 146, 76), fill=c.body)
    d.rounded_rectangle((104, 14, 152, 48), 6, fill=c.accent)
    return 84, 118, 172, 206


def _tube(d: ImageDraw.ImageDraw, c: Design):
    d.rectangle((70, 14, 186, 30), fill=c.accent)
    d.polygon([(70, 30), (186, 30), (166, 204), (90, 204)], fill=c.body)
    d.rounded_rectangle((98, 204, 158, 242), 6, fill=c.accent)
    return 86, 60, 170, 160


def _dropper(d: ImageDraw.ImageDraw, c: Design):
    d.ellipse((110, 12, 146, 70), fill=c.accent)
    d.rectangle((104, 60, 152, 104), fill=_shade(c.accent, 0.7))
    d.rounded_rectangle((78, 100, 178, 242), 20, fill=c.body)
    return 84, 140, 172, 222


def _can(d: ImageDraw.ImageDraw, c: Design):
    d.ellipse((60, 206, 196, 246), fill=c.body)
    d.rectangle((60, 52, 196, 226), fill=c.body)
    d.ellipse((60, 32, 196, 72), fill=c.accent)
    return 60, 96, 196, 196


def _box(d: ImageDraw.ImageDraw, c: Design):
    d.polygon([(40, 84), (80, 46), (226, 46), (186, 84)], fill=_shade(c.body, 1.25))
    d.polygon([(186, 84), (226, 46), (226, 200), (186, 238)], fill=_shade(c.body, 0.7))
    d.rectangle((40, 84, 186, 238), fill=c.body)
    return 48, 112, 178, 214


def _pouch(d: ImageDraw.ImageDraw, c: Design):
    d.polygon([(58, 40), (198, 40), (208, 240), (48, 240)], fill=c.body)
    d.rectangle((58, 22, 198, 42), fill=c.accent)
    d.line([(58 + 10 * i, 22 - 6 * (i % 2)) for i in range(15)], fill=c.accent, width=4)
    return 68, 84, 190, 190


def _lipstick(d: ImageDraw.ImageDraw, c: Design):
    d.polygon([(106, 96), (150, 96), (150, 44), (106, 18)], fill=c.body)
    d.rectangle((98, 96, 158, 130), fill=_shade(c.accent, 1.3))
    d.rectangle((88, 130, 168, 244), fill=c.accent)
    return 92, 146, 164, 236


def _shoe(d: ImageDraw.ImageDraw, c: Design):
    d.polygon([(22, 178), (32, 118), (92, 104), (128, 60), (172, 68), (188, 124), (234, 146), (238, 192),
               (22, 196)], fill=c.body)
    d.rectangle((18, 190, 242, 214), fill=c.accent)
    for i in range(4):
        d.line((112 + 12 * i, 84 + 8 * i, 142 + 12 * i, 74 + 8 * i), fill=c.label, width=4)
    return 40, 140, 124, 182


def _bag(d: ImageDraw.ImageDraw, c: Design):
    d.arc((76, 26, 180, 150), 180, 360, fill=c.accent, width=10)
    d.polygon([(48, 90), (208, 90), (232, 232), (24, 232)], fill=c.body)
    d.polygon([(48, 90), (208, 90), (196, 150), (60, 150)], fill=_shade(c.body, 0.75))
    return 84, 162, 172, 214


def _shirt(d: ImageDraw.ImageDraw, c: Design):
    d.polygon([(84, 36), (110, 28), (146, 28), (172, 36), (230, 78), (206, 124), (186, 108), (186, 242),
               (70, 242), (70, 108), (50, 124), (26, 78)], fill=c.body)
    d.ellipse((104, 18, 152, 46), fill=_shade(c.body, 0.7))
    return 84, 96, 172, 162


def _pants(d: ImageDraw.ImageDraw, c: Design):
    d.polygon([(66, 44), (190, 44), (208, 244), (142, 244), (128, 110), (114, 244), (48, 244)], fill=c.body)
    d.rectangle((66, 20, 190, 44), fill=_shade(c.body, 0.75))
    return 136, 50, 188, 96


def _phone(d: ImageDraw.ImageDraw, c: Design):
    d.rounded_rectangle((72, 12, 184, 244), 24, fill=c.body)
    d.rounded_rectangle((86, 26, 134, 82), 10, fill=(40, 40, 40))
    d.ellipse((92, 32, 112, 52), fill=(100, 100, 110))
    d.ellipse((108, 58, 128, 78), fill=(100, 100, 110))
    return 80, 130, 176, 204


def _cable(d: ImageDraw.ImageDraw, c: Design):
    for i in range(4):
        d.ellipse((46 + 9 * i, 20 + 6 * i, 210 - 9 * i, 150 - 6 * i), outline=c.body, width=8)
    d.rectangle((34, 120, 62, 170), fill=c.accent)
    d.rectangle((194, 120, 222, 170), fill=c.accent)
    return 52, 170, 204, 242


def _hijab(d: ImageDraw.ImageDraw, c: Design):
    d.polygon([(128, 14), (242, 128), (128, 242), (14, 128)], fill=c.body)
    d.polygon([(128, 14), (242, 128), (128, 128)], fill=_shade(c.body, 0.8))
    return 84, 150, 172, 198


def _pack(d: ImageDraw.ImageDraw, c: Design):
    d.rounded_rectangle((20, 64, 236, 210), 36, fill=c.body)
    d.ellipse((86, 74, 170, 110), fill=c.accent)
    return 42, 118, 214, 198


SHAPES = {"bottle": _bottle, "tube": _tube, "dropper": _dropper, "can": _can, "box": _box, "pouch": _pouch,
          "lipstick": _lipstick, "shoe": _shoe, "bag": _bag, "shirt": _shirt, "pants": _pants,
          "phone": _phone, "cable": _cable, "hijab": _hijab, "pack": _pack}


@functools.lru_cache(maxsize=64)
def _font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size)


def _text(d: ImageDraw.ImageDraw, box, text: str, fill, largest: int) -> None:
    """Centre text in box, shrinking the font until it fits."""
    x0, y0, x1, y1 = box
    size = min(largest, int((y1 - y0) * 0.8))
    while size > 9 and d.textlength(text, font=_font(size)) > (x1 - x0) * 0.92:
        size -= 2
    d.text(((x0 + x1) / 2, (y0 + y1) / 2), text, fill=fill, font=_font(size), anchor="mm")


def _label(d: ImageDraw.ImageDraw, box, c: Design) -> None:
    """Brand on top, size below, in the family's label style."""
    x0, y0, x1, y1 = box
    d.rectangle(box, fill=c.label)
    if c.pattern == "band":
        d.rectangle((x0, y1 - (y1 - y0) // 6, x1, y1), fill=c.accent)
    elif c.pattern == "dots":
        for i in range(3):
            d.ellipse((x1 - 12 - 10 * i, y0 + 3, x1 - 5 - 10 * i, y0 + 10), fill=c.accent)
    elif c.pattern == "ring":
        d.rectangle(box, outline=c.accent, width=3)
    ink = _ink(c.label)
    mid = y0 + (y1 - y0) * 0.55 if c.size else y1
    _text(d, (x0, y0, x1, mid), c.brand, ink, 30)
    if c.size:
        _text(d, (x0, mid, x1, y1 - (y1 - y0) // 8), c.size, ink, 22)


def product_image(c: Design) -> Image.Image:
    """The product on a transparent canvas; multi-packs show up to three copies."""
    item = Image.new("RGBA", (CANVAS, CANVAS))
    d = ImageDraw.Draw(item)
    _label(d, SHAPES[c.shape](d, c), c)
    item = item.resize((int(CANVAS * c.aspect), CANVAS), Image.Resampling.BILINEAR)
    copies = min(c.pack, 3)
    if copies == 1:
        return item
    step = item.width // 3
    group = Image.new("RGBA", (item.width + step * (copies - 1), CANVAS))
    for i in range(copies):
        group.alpha_composite(item, (step * i, 0))
    d = ImageDraw.Draw(group)
    d.ellipse((group.width - 74, 4, group.width - 4, 74), fill=(220, 30, 30))
    _text(d, (group.width - 74, 4, group.width - 4, 74), f"isi {c.pack}", (255, 255, 255), 22)
    return group


# ---------------------------------------------------------------- photos: the listing

def _photo_size(rng: np.random.Generator) -> tuple[int, int]:
    """200-400 px, sometimes not square."""
    side = int(rng.integers(200, 401))
    if rng.random() < 0.7:
        return side, side
    return side, int(np.clip(side * rng.uniform(0.75, 1.33), 200, 400))


def _background(size: tuple[int, int], style: str, colours, rng: np.random.Generator) -> Image.Image:
    w, h = size
    if style == "white":
        return Image.new("RGB", size, (255, 255, 255))
    if style == "plain":
        return Image.new("RGB", size, colours[0])
    if style == "table":
        img = Image.new("RGB", size, colours[0])
        floor = int(h * rng.uniform(0.55, 0.8))
        ImageDraw.Draw(img).rectangle((0, floor, w, h), fill=_shade(colours[1], 0.85))
        return img
    if style == "gradient":
        t = np.linspace(0, 1, h)[:, None, None]
        rows = (1 - t) * np.array(colours[0]) + t * np.array(colours[1])
        return Image.fromarray(np.broadcast_to(rows, (h, w, 3)).astype(np.uint8))
    blotches = np.array(colours[0]) + rng.normal(0, 25, size=(4, 4, 3))
    return Image.fromarray(np.clip(blotches, 0, 255).astype(np.uint8)).resize(size, Image.Resampling.BICUBIC)


def _scene(item: Image.Image, size, style: str, colours, rng: np.random.Generator) -> Image.Image:
    """Place the product on a background with the photographer's scale, offset and tilt."""
    scene = _background(size, style, colours, rng)
    scale = min(size) * rng.uniform(0.6, 0.92) / max(item.size)
    obj = item.resize((max(1, int(item.width * scale)), max(1, int(item.height * scale))),
                      Image.Resampling.BILINEAR)
    if rng.random() < 0.6:
        obj = obj.rotate(float(np.clip(rng.normal(0, 5), -12, 12)), Image.Resampling.BILINEAR, expand=True)
    x = (size[0] - obj.width) // 2 + int(rng.uniform(-0.1, 0.1) * size[0])
    y = (size[1] - obj.height) // 2 + int(rng.uniform(-0.1, 0.1) * size[1])
    scene.paste(obj, (max(0, min(x, size[0] - obj.width)), max(0, min(y, size[1] - obj.height))), obj)
    return scene


def _stamp(img: Image.Image, shop: Shop, rng: np.random.Generator) -> Image.Image:
    """A seller's overlays, drawn in place: translucent watermark, promo badge, shop banner, border."""
    w, h = img.size
    if rng.random() < (0.7 if shop.watermark else 0.1):
        mask = Image.new("L", img.size)
        y = int(h * rng.uniform(0.3, 0.7))
        _text(ImageDraw.Draw(mask), (0, y - h // 10, w, y + h // 10), shop.name, 110, 40)
        img.paste((255, 255, 255), mask=mask)
    d = ImageDraw.Draw(img)
    if rng.random() < 0.35:
        x, y = (int(rng.integers(0, w // 3)), int(rng.integers(0, h // 6)))
        d.rounded_rectangle((x, y, x + w // 3, y + h // 9), 6, fill=(225, 35, 35))
        _text(d, (x, y, x + w // 3, y + h // 9), _pick(rng, BADGES), (255, 255, 255), 26)
    if rng.random() < 0.15:
        d.rectangle((0, h - h // 9, w, h), fill=_shade(shop.colours[0], 0.5))
        _text(d, (0, h - h // 9, w, h), shop.name, (255, 255, 255), 24)
    if rng.random() < 0.12:
        colour, width = _hsv(rng.random(), 0.8, 0.8), int(rng.integers(4, 13))
        d.rectangle((0, 0, w - 1, h - 1), outline=colour, width=width)
    return img


def _retouch(img: Image.Image, size, rng: np.random.Generator) -> Image.Image:
    """A seller's edits of a photo: crop, mirror, brightness, resize."""
    if rng.random() < 0.35:
        w, h = img.size
        keep = rng.uniform(0.8, 0.97)
        x, y = int(rng.uniform(0, 1 - keep) * w), int(rng.uniform(0, 1 - keep) * h)
        img = img.crop((x, y, x + int(w * keep), y + int(h * keep)))
    if rng.random() < 0.05:
        img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    if rng.random() < 0.5:
        img = ImageEnhance.Brightness(img).enhance(rng.uniform(0.88, 1.12))
    return img.resize(size, Image.Resampling.BILINEAR)


def listing_photo(item: Image.Image, listing, shop: Shop, seed: int) -> tuple[Image.Image, int]:
    """One listing's photo and JPEG quality: the official photo retouched by the seller, or
    the seller's own shot on its usual background. Official photos share one layout per
    family, so hard negatives look alike apart from colour or printed size."""
    rng = np.random.default_rng([seed, _PHOTO, int(listing.posting_id[5:])])
    size = _photo_size(rng)
    if listing.photo == "official":
        official = np.random.default_rng([seed, _OFFICIAL, int(listing.family)])
        osize = _photo_size(official)
        photo = _scene(item, osize, _pick(official, ("white", "white", "plain", "gradient")),
                       (_light_colour(official), _light_colour(official)), official)
        photo = _retouch(photo, size if rng.random() < 0.5 else osize, rng)
    else:
        photo = _scene(item, size, shop.background, shop.colours, rng)
    return _stamp(photo, shop, rng), int(rng.integers(60, 96))


def render_images(plan: pd.DataFrame, image_dir: Path, seed: int,
                  progress: Callable[[int, int], None] | None = None) -> dict[str, str]:
    """Write every distinct photo once (reused photos share the file) and return name -> pHash."""
    originals = plan[plan["photo"] != "reuse"].sort_values("product", kind="stable")
    pool = shops(len(plan), seed)
    hashes: dict[str, str] = {}
    product, item = None, None
    for listing in originals.itertuples():
        if listing.product != product:
            product, item = listing.product, product_image(design(listing, seed))
        photo, quality = listing_photo(item, listing, pool[listing.shop], seed)
        path = image_dir / listing.image
        photo.save(path, "JPEG", quality=quality)
        with Image.open(path) as saved:
            hashes[listing.image] = str(imagehash.phash(saved))
        if progress is not None:
            progress(len(hashes), len(originals))
    return hashes


# ---------------------------------------------------------------- files

def _readme(plan: pd.DataFrame, listings: int, seed: int) -> str:
    group_sizes_ = plan.groupby("label_group").size()
    return f"""# Demo catalogue (generated, not real data)

Generated by `python -m matcher demo` with seed={seed} and listings={listings}; the same
seed and size regenerate byte-identical files.

It imitates the Kaggle competition "Shopee - Price Match Guarantee" (34,250 listings in
11,014 label groups of 2 to 51 listings, titles in Indonesian and English), which cannot be
redistributed. Here: {len(plan)} listings in {len(group_sizes_)} label groups (largest
{group_sizes_.max()}, {int((group_sizes_ == 1).sum())} singletons), {plan['image'].nunique()} distinct photos.

- `catalog.csv`: `posting_id,image,image_phash,title,label_group` as in the competition.
  Read it with `pd.read_csv(path, dtype=str, keep_default_na=False)`: label groups have
  leading zeros and some titles are empty.
- `images/`: product photos drawn with Pillow (shapes, labels, backgrounds, seller
  watermarks and crops); some sellers reuse the very same file.
- Brands, shop names and phone models are invented; any resemblance to real ones is chance.
- Each label group is one product written differently by each seller: promo words, shop
  tags, unit spellings, case, word order, typos, dropped attributes, literal `\\xNN`
  escapes (~2%) and empty titles (~1%).
- Hard negatives: products of the same brand and type that differ only in size, colour
  or pack count are different label groups, as in the real data.
"""


def write_demo_catalog(out_dir, listings: int = 600, seed: int = 0,
                       progress: Callable[[int, int], None] | None = None) -> Path:
    """Write catalog.csv, images/ and README.md under out_dir and return the CSV path.
    `progress(done, total)` is called after each photo file is written."""
    out = Path(out_dir)
    (out / "images").mkdir(parents=True, exist_ok=True)
    plan = plan_demo(listings, seed)
    hashes = render_images(plan, out / "images", seed, progress)
    path = out / "catalog.csv"
    plan.assign(image_phash=plan["image"].map(hashes))[COLUMNS].to_csv(path, index=False)
    (out / "README.md").write_text(_readme(plan, listings, seed), encoding="utf-8")
    return path
