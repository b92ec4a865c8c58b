"""The seeded demo catalog (`shop seed`): six products with local images."""
from __future__ import annotations

from app.models import Product, db

PRODUCTS = [
    ("aeropress-coffee-maker", "Travel Coffee Press", "A compact press for a clean cup anywhere.", 3495, 40),
    ("ceramic-pour-over", "Ceramic Pour-Over", "Hand-glazed dripper for slow mornings.", 2800, 25),
    ("single-origin-beans", "Single-Origin Beans, 340 g", "Washed Ethiopian, notes of jasmine and lemon.", 1850, 120),
    ("burr-grinder", "Hand Burr Grinder", "Steel burrs, 40 click settings, fits in a bag.", 8900, 15),
    ("gooseneck-kettle", "Gooseneck Kettle", "0.9 L, precise pour, works on induction.", 4599, 30),
    ("enamel-mug", "Enamel Camp Mug", "Chip-resistant enamel, 350 ml.", 1200, 200),
]


def seed_catalog(currency: str = "usd", reset_stock: bool = False) -> int:
    """Insert the demo products that are missing (and, if asked, put their stock back). Returns how many changed."""
    changed = 0
    for slug, name, description, price, stock in PRODUCTS:
        product = db.session.get(Product, slug)
        if product is None:
            db.session.add(Product(id=slug, name=name, description=description, price=price, currency=currency,
                                   stock=stock, image=f"img/{slug}.svg"))
            changed += 1
        elif reset_stock:
            product.stock = stock
            changed += 1
    db.session.commit()
    return changed
