"""Words that name a shopping attribute, by kind: the vocabulary of the attribute guard.

Pure data. Each word belongs to one kind; synonyms map to one canonical value ("mens" → "men",
"grey" → "gray") so that wording differences are not read as attribute changes. ShopWorld's
invented brands are listed with the real ones: they are what its shoppers type.
"""

from __future__ import annotations


def _canonical(groups: str) -> dict[str, str]:
    """`canon=syn1,syn2 canon2 ...` → {word: canon}; a bare word is its own canonical form."""
    table: dict[str, str] = {}
    for group in groups.split():
        canon, _, synonyms = group.partition("=")
        for word in (canon, *filter(None, synonyms.split(","))):
            table[word] = canon
    return table


# fmt: off
COLOURS = _canonical(
    "black white gray=grey red blue green yellow orange purple=violet pink brown beige tan "
    "navy silver gold ivory cream khaki maroon burgundy teal turquoise aqua cyan magenta "
    "lavender lilac coral salmon olive mint plum charcoal taupe mauve fuchsia rose copper bronze "
    "indigo emerald ruby crimson scarlet camel mustard multicolor=multicolour,multicolored "
    "transparent=clear rose_gold"
)
SIZES = _canonical(
    "xxs xs=xsmall s=small m=medium l=large xl=xlarge xxl=xxlarge,2xl xxxl=xxxlarge,3xl "
    "4xl=xxxxl 5xl petite plus twin queen king cal_king=california_king"
)
AUDIENCES = _canonical(
    "men=man,mens,male,gentlemen women=woman,womens,female,ladies,lady boys=boy "
    "girls=girl kids=kid,children,child,childrens baby=babies,infant,infants,newborn "
    "toddler=toddlers teen=teens,teenager unisex adult=adults"
)
MATERIALS = _canonical(
    "leather cotton wool silk linen polyester nylon denim suede canvas plastic glass ceramic "
    "steel=stainless,stainless_steel aluminum=aluminium wood=wooden bamboo rubber silicone "
    "metal titanium marble velvet fleece cashmere vinyl pvc tpe acrylic porcelain cast_iron "
    "carbon_fiber"
)
CONNECTIVITY = _canonical("wired wireless=bluetooth,cordless corded=cord")
CONNECTORS = _canonical(
    "usb_c=usb_type_c,type_c,usbc usb_a=usb_type_a,type_a micro_usb=microusb mini_usb lightning"
)
BRANDS = _canonical(
    # Real brands people type in shopping searches.
    "apple samsung google sony lg microsoft dell hp lenovo asus acer huawei xiaomi oneplus "
    "motorola nokia nintendo xbox playstation canon nikon fujifilm gopro bose jbl beats "
    "sennheiser logitech razer corsair anker belkin philips panasonic toshiba dyson shark "
    "kitchenaid cuisinart keurig nespresso ninja instant_pot breville hamilton_beach "
    "nike adidas puma reebok asics new_balance under_armour skechers vans converse fila "
    "levis=levi wrangler carhartt columbia patagonia north_face=the_north_face timberland "
    "crocs birkenstock ugg gucci prada calvin_klein ralph_lauren tommy_hilfiger michael_kors "
    "lego hasbro mattel barbie loreal=l_oreal maybelline revlon dove nivea olay neutrogena "
    "cerave garnier pantene colgate crest oral_b gillette pampers huggies nestle starbucks "
    "lipton twinings hershey kelloggs=kellogg ikea coleman yeti hydro_flask stanley contigo "
    "thermos osprey samsonite fitbit garmin casio seiko citizen fossil timex "
    # ShopWorld's invented brands (shopr1.shopworld.categories).
    "stridex aerolite kinetix trailmark velora northpeak threadline basix cottonwood urbanite "
    "loomcraft evergreen stormline driftwood cascadia tidewater alpinex sonora aerosonic "
    "bassline echelon quietude voxel packwell summitry roamer carryall brewster crema "
    "morningstar kaffeina percola roastwell hydrova aquarius glacier flowstone purewell "
    "zenflow lotusline balancea groundwork asana"
)

KINDS: dict[str, dict[str, str]] = {
    "colour": COLOURS,
    "size": SIZES,
    "audience": AUDIENCES,
    "material": MATERIALS,
    "connectivity": CONNECTIVITY,
    "connector": CONNECTORS,
    "brand": BRANDS,
}

# Units, canonicalised; a unit counts only right after a number, whose kind becomes
# `number:<unit>` ("2.6 oz" and "3 pack" are different quantities, not a conflict).
UNITS = _canonical(
    "oz=ounce,ounces,floz,fl_oz,fluid_ounce,fluid_ounces lb=lbs,pound,pounds g=gram,grams,gr kg=kilogram,kilograms,kgs "
    "mg=milligram,milligrams ml=milliliter,milliliters,millilitre,millilitres "
    "l=liter,liters,litre,litres,ltr gal=gallon,gallons qt=quart,quarts "
    "in=inch,inches,inchs ft=feet,foot cm=centimeter,centimeters mm=millimeter,millimeters "
    "m=meter,meters,metre,metres yd=yard,yards gb=gig,gigs,gigabyte,gigabytes "
    "tb=terabyte,terabytes mb=megabyte,megabytes mah w=watt,watts v=volt,volts hz=hertz k p "
    "mp=megapixel,megapixels pack=packs,pk,pks count=ct,counts piece=pieces,pcs,pc,pce "
    "pair=pairs set=sets cup=cups sheet=sheets roll=rolls bag=bags bottle=bottles can=cans "
    "box=boxes capsule=capsules,caps "
    "tablet=tablets seat=seats,seater person=people,persons pct=percent usd=dollar,dollars,bucks "
    "th=st,nd,rd"
)
# fmt: on

# Units a lone "a"/"an"/"one" counts as 1 of ("a pair of socks", "one gallon jug"); not "in",
# "m", "box" etc., where "a" is only an article ("a box spring").
COUNTED_UNITS = frozenset(
    _canonical(
        "pack pair set piece count person seat gal qt lb oz ml g ft yd tb gb cup roll bottle"
    )
)

# Garments: with one of them in the text, a lone "s", "m" or "l" is a size ("hoodie l").
APPAREL = frozenset(
    _canonical(
        "shirt tshirt t_shirt tee hoodie sweatshirt sweater cardigan jacket coat parka vest blazer "
        "dress skirt pant trouser jean short legging jogger top blouse polo jersey tank underwear "
        "bra panty boxer brief sock swimsuit bikini pajama glove hat cap scrub uniform costume"
    )
)

# Multi-word names joined into one token before matching ("new balance" → "new_balance").
PHRASES: tuple[str, ...] = tuple(
    word for table in (*KINDS.values(), UNITS, APPAREL) for word in table if "_" in word
)

# fmt: off
# Metric units in one base unit each, so "1 l" and "1000 ml" are the same quantity.
UNIT_SCALE: dict[str, tuple[str, str]] = {
    "kg": ("g", "1000"), "mg": ("g", "0.001"), "l": ("ml", "1000"), "cm": ("mm", "10"),
    "m": ("mm", "1000"), "tb": ("gb", "1000"),
}

# Words before a bare number that make it a price ("under 120", "up to 50").
PRICE_CUES: frozenset[tuple[str, ...]] = frozenset(
    {("under",), ("below",), ("upto",), ("max",), ("maximum",), ("within",), ("budget",),
     ("up", "to"), ("less", "than"), ("at", "most"), ("cheaper", "than")}
)

WORD_NUMBERS = {
    "two": "2", "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7", "eight": "8",
    "nine": "9", "ten": "10", "eleven": "11", "twelve": "12", "dozen": "12", "single": "1",
    "double": "2", "triple": "3",
}
# fmt: on
