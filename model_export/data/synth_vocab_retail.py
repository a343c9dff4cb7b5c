"""Topic wording of the retail verticals (see ``synth_catalog``): per topic, ``|``-separated
ad products and content subjects."""

RawTopic = tuple[str, str]

RAW_VERTICALS: dict[str, dict[str, RawTopic]] = {
    "Fashion": {
        "sneakers": (
            "limited-edition sneakers|retro basketball sneakers|white leather sneakers",
            "sneaker drops|sneaker cleaning|sneaker collections|rare sneakers",
        ),
        "watches": (
            "automatic dive watch|minimalist wristwatch|chronograph watch",
            "mechanical watches|watch straps|vintage watch collecting|dive watches",
        ),
        "handbags": (
            "leather tote bag|crossbody handbag|designer clutch",
            "designer handbags|tote bags|handbag care|it-bags of the season",
        ),
        "denim": (
            "slim-fit jeans|raw selvedge denim|denim jacket",
            "jeans fits|selvedge denim|fading raw denim|denim jackets",
        ),
        "jewelry": (
            "gold hoop earrings|silver pendant necklace|diamond engagement ring",
            "engagement rings|gold jewelry|layered necklaces|gemstones",
        ),
        "winter coats": (
            "down parka|wool overcoat|insulated puffer jacket",
            "winter coats|down jackets|layering for cold weather|parkas",
        ),
    },
    "Sports & Outdoors": {
        "trail running": (
            "trail running shoes|trail running hydration vest|trail running poles",
            "trail running routes|ultramarathon training|downhill trail running technique"
            "|mountain trail races",
        ),
        "yoga": (
            "non-slip yoga mat|cork yoga block set|high-waisted yoga leggings",
            "yoga flows|yoga poses for back pain|yoga retreats|vinyasa yoga sequences",
        ),
        "cycling": (
            "carbon road bike|aero cycling helmet|GPS bike computer",
            "cycling climbs|bike maintenance|group cycling rides|road bike gearing",
        ),
        "tennis": (
            "graphite tennis racket|pressurized tennis balls|clay court tennis shoes",
            "tennis serve drills|Grand Slam tennis matches|tennis strings|backhand technique",
        ),
        "golf": (
            "titanium golf driver|tour golf balls|laser golf rangefinder",
            "golf courses|golf swing fixes|putting drills|links golf",
        ),
        "fishing": (
            "fly fishing rod|fishing tackle box|breathable fishing waders",
            "fly fishing rivers|trout lures|fishing knots|bass fishing",
        ),
    },
    "Gaming": {
        "fantasy RPGs": (
            "open-world fantasy RPG|RPG collector's edition|fantasy RPG expansion",
            "RPG boss fights|RPG character builds|fantasy RPG lore|dungeon crawlers",
        ),
        "shooters": (
            "tactical shooter game|battle royale season pass|shooter weapon skin bundle",
            "shooter loadouts|aim training|battle royale strategies|sniper tactics",
        ),
        "sim racing": (
            "force feedback racing wheel|sim racing cockpit|racing simulator game",
            "sim racing setups|racing lines|lap time tricks|racing simulator leagues",
        ),
        "strategy games": (
            "grand strategy game|real-time strategy expansion|4X strategy game",
            "strategy game build orders|grand strategy campaigns|empire building",
        ),
        "puzzle games": (
            "match-3 puzzle game|daily crossword app|brain teaser puzzle pack",
            "puzzle game levels|brain teasers|crossword solving|logic puzzles",
        ),
        "retro gaming": (
            "retro handheld console|arcade cabinet|8-bit classic game collection",
            "retro consoles|8-bit classics|arcade machines|game emulation",
        ),
    },
    "Food Delivery": {
        "pizza": (
            "wood-fired pizza delivery|family pizza bundle|pepperoni pizza deal",
            "pizza dough|neighborhood pizzerias|pizza toppings|Neapolitan pizza",
        ),
        "sushi": (
            "sushi platter delivery|salmon poke bowl|sushi party box",
            "sushi rolls|sushi restaurants|sashimi|making sushi rice",
        ),
        "vegan meals": (
            "vegan meal box|plant-based burger|vegan curry bowl",
            "vegan recipes|plant-based protein|going vegan|tofu dishes",
        ),
        "burgers": (
            "smash burger combo|double cheeseburger meal|burger and fries deal",
            "burger joints|smash burgers|burger sauces|grilling burgers",
        ),
        "coffee": (
            "specialty coffee subscription|single-origin coffee beans|cold brew coffee pack",
            "coffee brewing methods|espresso shots|coffee roasters|latte art",
        ),
        "meal kits": (
            "weekly meal kit|family dinner kit|15-minute meal kit",
            "weeknight dinner ideas|meal prep|one-pan dinners|cooking for the week",
        ),
    },
    "Electronics": {
        "smartphones": (
            "5G smartphone|smartphone with a triple camera|foldable smartphone",
            "smartphone cameras|phone battery life|smartphone launches|Android vs iPhone",
        ),
        "laptops": (
            "ultralight laptop|14-inch laptop|2-in-1 convertible laptop",
            "laptops for students|laptop battery life|laptop keyboards|thin laptops",
        ),
        "headphones": (
            "noise-cancelling headphones|wireless earbuds|studio headphones",
            "noise cancelling|wireless earbuds|headphone sound quality|audiophile headphones",
        ),
        "cameras": (
            "mirrorless camera|telephoto lens|carbon camera tripod",
            "photography tips|camera lenses|night photography|mirrorless cameras",
        ),
        "TVs": (
            "65-inch OLED TV|4K home projector|Dolby Atmos soundbar",
            "OLED TVs|home theater setups|TV picture settings|projectors",
        ),
        "drones": (
            "4K camera drone|FPV drone kit|foldable mini drone",
            "drone footage|drone regulations|FPV drone racing|aerial photography",
        ),
    },
    "Home & Garden": {
        "vegetable gardening": (
            "raised garden bed|heirloom tomato seeds|backyard compost bin",
            "vegetable gardening|growing tomatoes|composting|vegetable seedlings",
        ),
        "houseplants": (
            "potted monstera plant|self-watering planter|indoor plant grow light",
            "houseplants|low-light plants|repotting plants|fiddle leaf figs",
        ),
        "sofas": (
            "modular sofa|velvet armchair|sleeper sofa",
            "living room layouts|sofas|sectional couches|cozy reading nooks",
        ),
        "cookware": (
            "cast iron skillet|nonstick cookware set|Japanese chef's knife",
            "cast iron care|knife sharpening|nonstick pans|kitchen knives",
        ),
        "mattresses": (
            "memory foam mattress|linen bedding set|hybrid mattress",
            "mattresses|bedding|firm vs soft mattresses|duvet covers",
        ),
        "power tools": (
            "cordless drill|circular saw|power tool combo kit",
            "DIY woodworking projects|power tools|building shelves|drilling into concrete",
        ),
    },
    "Beauty": {
        "skincare": (
            "vitamin C serum|retinol night cream|SPF 50 sunscreen",
            "skincare routines|acne treatments|anti-aging serums|sunscreen",
        ),
        "makeup": (
            "matte lipstick|long-wear foundation|eyeshadow palette",
            "makeup tutorials|contouring|lipstick shades|eyeliner looks",
        ),
        "haircare": (
            "argan oil shampoo|ionic hair dryer|curl defining cream",
            "curly hair routines|hair masks|frizz control|heatless curls",
        ),
        "fragrance": (
            "eau de parfum|cologne gift set|travel perfume atomizer",
            "perfume notes|signature scents|niche fragrances|colognes",
        ),
        "nail care": (
            "gel nail polish kit|press-on nails|nail art pen set",
            "nail art designs|gel manicures|nail care|nail polish trends",
        ),
        "beard grooming": (
            "beard trimmer|beard oil|double-edge safety razor",
            "beard styles|wet shaving|beard growth|beard trimming",
        ),
    },
}
