"""The store's vocabulary: departments, their attributes (with the words people use for them in
titles and queries), colours, sizes, brands, model names, features and price levels.

Pure data. Brands and models are invented so titles look real without naming real companies.
"""

from __future__ import annotations

from dataclasses import dataclass

from shopr1.html.words import SLUG_SEPARATOR


@dataclass(frozen=True)
class Value:
    """One attribute value: `value` is its slug (used in element names), `adj` the title-cased
    pre-modifier ("Men's", "Trail"), `post` an optional query phrase after the noun ("for men")."""

    value: str
    label: str
    adj: str
    post: str = ""


@dataclass(frozen=True)
class Attribute:
    key: str
    label: str
    values: tuple[Value, ...]


@dataclass(frozen=True)
class Category:
    slug: str
    label: str  # department heading, plural: "Running Shoes"
    noun: str  # what people type: "running shoes"
    title_noun: str  # in product titles: "Running Shoes", "Backpack"
    attributes: tuple[Attribute, ...]
    colors: tuple[str, ...]
    sizes: tuple[str, ...]
    price_median: float
    price_sigma: float
    brands: tuple[str, ...]
    models: tuple[str, ...]
    features: tuple[str, ...]


# fmt: off
COLORS: dict[str, str] = {
    "black": "Black", "white": "White", "red": "Red", "blue": "Blue", "grey": "Grey",
    "green": "Green", "orange": "Orange", "pink": "Pink", "navy": "Navy", "yellow": "Yellow",
    "silver": "Silver", "rose_gold": "Rose Gold", "stainless_steel": "Stainless Steel",
    "purple": "Purple",
}

# (slug, label, low, high): fixed ranges, as many stores show them whatever the query.
PRICE_BUCKETS: tuple[tuple[str, str, float, float], ...] = (
    ("under_25", "Under $25", 0.0, 25.0),
    ("25_to_50", "$25 to $50", 25.0, 50.0),
    ("50_to_100", "$50 to $100", 50.0, 100.0),
    ("100_to_200", "$100 to $200", 100.0, 200.0),
    ("200_and_up", "$200 & Above", 200.0, float("inf")),
)
# fmt: on


def _attr(key: str, label: str, *values: str) -> Attribute:
    """Values as "slug|Label|Adj|post phrase" (post optional)."""
    return Attribute(key, label, tuple(Value(*_slugged(v.split("|"))) for v in values))


def _slugged(parts: list[str]) -> list[str]:
    """The data below writes slugs with hyphens; element names use the one slug separator."""
    return [parts[0].replace("-", SLUG_SEPARATOR), *parts[1:]]


def _category(
    names: str,
    attributes: tuple[Attribute, ...],
    colors: str,
    sizes: str,
    price: tuple[float, float],
    brands: str,
    models: str,
    features: str,
) -> Category:
    """`names` is "slug|Label|noun|Title Noun"; lists are space- (features: |-) separated."""
    slug, label, noun, title_noun = _slugged(names.split("|"))
    return Category(
        slug,
        label,
        noun,
        title_noun,
        attributes,
        tuple(colors.split()),
        tuple(sizes.split()),
        price[0],
        price[1],
        tuple(brands.split()),
        tuple(models.split()),
        tuple(features.split("|")),
    )


_GENDER = _attr("gender", "Department", "men|Men|Men's|for men", "women|Women|Women's|for women")

# fmt: off
CATEGORIES: tuple[Category, ...] = (
    _category(
        "running-shoes|Running Shoes|running shoes|Running Shoes",
        (_GENDER, _attr("surface", "Surface", "road|Road|Road", "trail|Trail|Trail")),
        "black white red blue grey green orange pink", "6 7 8 9 10 11 12", (85.0, 0.35),
        "Stridex Aerolite Kinetix Trailmark Velora Northpeak",
        "Pace Glide Tempo Surge Nova Drift Ridge Volt Arc Swift",
        "Breathable Mesh|Cushioned Midsole|Lightweight|Non-Slip Outsole|Wide Toe Box|"
        "Reflective Trim|Responsive Foam",
    ),
    _category(
        "t-shirts|T-Shirts|t-shirts|T-Shirt",
        (_GENDER, _attr("fit", "Fit", "slim|Slim Fit|Slim Fit|with a slim fit",
                        "regular|Regular Fit|Regular Fit", "oversized|Oversized|Oversized")),
        "black white grey navy red green blue yellow", "XS S M L XL XXL", (19.0, 0.4),
        "Threadline Basix Cottonwood Urbanite Loomcraft Evergreen",
        "Essential Classic Everyday Crew Heritage Softtouch Prime Core",
        "100% Cotton|Crew Neck|Tagless|Pre-Shrunk|Moisture Wicking|Short Sleeve",
    ),
    _category(
        "rain-jackets|Rain Jackets|rain jacket|Rain Jacket",
        (_GENDER, _attr("style", "Style", "hooded|Hooded|Hooded|with hood",
                        "packable|Packable|Packable", "insulated|Insulated|Insulated")),
        "black navy red yellow green grey blue", "S M L XL XXL", (79.0, 0.4),
        "Stormline Northpeak Driftwood Cascadia Tidewater Alpinex",
        "Squall Cirrus Monsoon Drizzle Tempest Harbor Voyager Torrent",
        "Waterproof|Windproof|Breathable|Adjustable Cuffs|Zip Pockets|Seam Sealed",
    ),
    _category(
        "headphones|Headphones|headphones|Headphones",
        (_attr("connectivity", "Connectivity", "wireless|Wireless|Wireless",
               "wired|Wired|Wired|with cable"),
         _attr("style", "Style", "over-ear|Over-Ear|Over-Ear", "in-ear|In-Ear|In-Ear",
               "on-ear|On-Ear|On-Ear")),
        "black white silver blue rose_gold", "", (89.0, 0.55),
        "Sonora Aerosonic Bassline Echelon Quietude Voxel",
        "Pulse Aura Studio Flow Halo Quantum Muse Nimbus Vibe",
        "Noise Cancelling|40h Battery|Built-In Mic|Fast Charging|Foldable|Deep Bass",
    ),
    _category(
        "backpacks|Backpacks|backpack|Backpack",
        (_attr("capacity", "Capacity", "20l|20 L|20L", "30l|30 L|30L", "40l|40 L|40L"),
         _attr("use", "Use", "hiking|Hiking|Hiking|for hiking", "laptop|Laptop|Laptop|for laptop",
               "travel|Travel|Travel|for travel")),
        "black grey navy green red orange", "", (49.0, 0.45),
        "Trailmark Packwell Urbanite Summitry Roamer Carryall",
        "Daypack Voyager Commuter Ridge Explorer Nomad Metro Summit",
        "Water Resistant|Padded Straps|USB Charging Port|Anti-Theft Pocket|Rain Cover|"
        "Hydration Sleeve",
    ),
    _category(
        "coffee-makers|Coffee Makers|coffee maker|Coffee Maker",
        (_attr("capacity", "Capacity", "4-cup|4 Cups|4-Cup", "8-cup|8 Cups|8-Cup",
               "12-cup|12 Cups|12-Cup"),
         _attr("type", "Type", "drip|Drip|Drip", "espresso|Espresso|Espresso",
               "single-serve|Single-Serve|Single-Serve")),
        "black stainless_steel white red", "", (69.0, 0.6),
        "Brewster Crema Morningstar Kaffeina Percola Roastwell",
        "Classic Barista Aroma Express Daybreak Velvet Bold Artisan",
        "Programmable|Auto Shut-Off|Reusable Filter|Keep Warm Plate|Thermal Carafe|Milk Frother",
    ),
    _category(
        "water-bottles|Water Bottles|water bottle|Water Bottle",
        (_attr("material", "Material", "stainless-steel|Stainless Steel|Stainless Steel",
               "plastic|Plastic|Plastic", "glass|Glass|Glass"),
         _attr("capacity", "Capacity", "500ml|500 ml|500ml", "750ml|750 ml|750ml", "1l|1 L|1L")),
        "black white blue green pink purple", "", (19.0, 0.4),
        "Hydrova Aquarius Glacier Flowstone Purewell Tidewater",
        "Summit Trek Splash Everyday Chill Peak Flow Sport",
        "Insulated|Leak-Proof Lid|Dishwasher Safe|Wide Mouth|Straw Lid|Keeps Cold 24h",
    ),
    _category(
        "yoga-mats|Yoga Mats|yoga mat|Yoga Mat",
        (_attr("thickness", "Thickness", "4mm|4 mm|4mm", "6mm|6 mm|6mm", "8mm|8 mm|8mm"),
         _attr("material", "Material", "tpe|TPE|TPE", "rubber|Natural Rubber|Natural Rubber",
               "pvc|PVC|PVC")),
        "purple blue black pink green grey", "", (32.0, 0.45),
        "Zenflow Lotusline Balancea Groundwork Asana Purewell",
        "Studio Align Harmony Essential Balance Flow Ground Lotus",
        "Non-Slip|Extra Thick|Carrying Strap|Eco-Friendly|Alignment Lines|Sweat Resistant",
    ),
)
# fmt: on

CATEGORY_BY_SLUG: dict[str, Category] = {c.slug: c for c in CATEGORIES}


def price_bucket(price: float) -> str:
    """The slug of the fixed price range that holds `price`."""
    for slug, _, low, high in PRICE_BUCKETS:
        if low <= price < high:
            return slug
    return PRICE_BUCKETS[-1][0]
