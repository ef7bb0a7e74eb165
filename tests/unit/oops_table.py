"""The oops detector's two tables: campaign copy it must leave alone, personal texts it must catch.

The marketing texts cover many industries and include the tricky words on purpose ("love",
"miss", "tonight", "call", "xo" or "honey" in a brand, emoji). The personal texts are what a rep
types to a spouse, friend or date in the wrong window.

These rows were written together with the first, rule-based detector; the model that replaced it
(app/campaigns/oops.py, trained on data/oops/) never saw them, so they are a small held-out check
next to its evaluation set. The three false alarms and three misses the rules had are now in
their tables. Add real-world misses and false alarms here as they are found.
"""

from __future__ import annotations

from typing import NamedTuple


class Marketing(NamedTuple):
    brand: str
    body: str
    company_numbers: frozenset[str] = frozenset()
    company_domains: frozenset[str] = frozenset()


PERSONAL_BRAND = "Harbor Realty"  # the company whose sender the personal text would go out from

MARKETING: list[Marketing] = [
    Marketing("Nordale", "Nordale: Fall Sale starts now! 30% off sweaters and boots through Sunday. Shop https://nordale.com/fall"),
    Marketing("Brightside Home", "We love our customers! Take 20% off your next order at Brightside Home with code THANKYOU20: brightside.com"),
    Marketing("Threadline", "Miss the sale? It's back! 48 hours only: 40% off sitewide at Threadline. threadline.com/sale"),
    Marketing("Luna Dental", "Luna Dental: Hi {first_name}, it's time for your 6-month cleaning. Call us at (415) 555-0134 to book.",
              frozenset({"+14155550134"})),
    Marketing("Parkway Outfitters", "See you at the store tonight for our late-night sale! Parkway Outfitters is open until midnight."),
    Marketing("Iron Temple Gym", "Iron Temple Gym: We miss you! Come back this month and your first 4 weeks are just $19."),
    Marketing("Bella Cucina", "Dinner tonight? Let Bella Cucina cook. Order online for pickup and get free garlic knots: bellacucina.com/order"),
    Marketing("Honey & Oak Bakery", "Honey & Oak Bakery: Honey-glazed croissants are back this weekend! Come early, they sell out fast."),
    Marketing("XO Cafe", "XO Cafe: Our new oat milk latte is here 🎉 Show this text for $1 off any drink through Friday."),
    Marketing("Glow Studio", "Glow Studio: Treat yourself 💅 Book a mani-pedi this week and get a free brow wax. glowstudio.com/book"),
    Marketing("Love Your Hair Salon", "Love Your Hair Salon: Openings this Saturday for color appointments. Book online or call 312-555-0188.",
              frozenset({"+13125550188"})),
    Marketing("Taskflow", "Taskflow: Your trial ends in 3 days. Upgrade now to keep your projects and automations: taskflow.io/upgrade"),
    Marketing("Summit Federal", "Summit Federal: Earn 4.10% APY with a Summit Savings account. Open one in minutes in the app or at summitfcu.org"),
    Marketing("SkyBridge Air", "SkyBridge Air: Fares from $59 one way to Denver, Austin and Miami. Book by Tuesday at skybridge.com/deals"),
    Marketing("SkyBridge Air", "SkyBridge Air: Can't wait to see you on board! Check in now for flight SB 212 to Denver: skybridge.com/checkin"),
    Marketing("Pawsome Pets", "Pawsome Pets: We can't wait to see you and your pup at Saturday's adoption event, 10am-2pm! 🐶"),
    Marketing("Bloom & Co", "Bloom & Co: Valentine's Day is Friday 💕 Order a dozen roses by Wednesday for guaranteed delivery: bloomco.com"),
    Marketing("Kessler Jewelers", "Kessler Jewelers: Say I love you with diamonds. Our Valentine's collection is 25% off this week only."),
    Marketing("DreamRest", "DreamRest: A good night's sleep, guaranteed. Save $300 on any DreamRest hybrid mattress through Monday."),
    Marketing("Daybreak Coffee", "Daybreak Coffee: Running late? Order ahead in the app and skip the line. Your latte will be waiting ☕"),
    Marketing("Tony's Pizza", "Tony's Pizza: Game night? 2 large pizzas for $22 tonight only. Call (718) 555-0199 or order at tonyspizza.com",
              frozenset({"+17185550199"})),
    Marketing("Sweetheart Boutique", "Sweetheart Boutique: New spring dresses just landed! Shop in store or online, free shipping over $50."),
    Marketing("Little Sprouts", "Little Sprouts: Baby shower season! Get 15% off registry favorites with code SHOWER15 at littlesprouts.com"),
    Marketing("Copper Kettle", "Copper Kettle: Trivia tonight at 7! Grab your crew and join us. Prizes for the top 3 teams."),
    Marketing("Harbor Bank", "Harbor Bank: Don't miss your chance to lock in 5.25% on a 12-month CD. Offer ends 6/30. harborbank.com/cd"),
    Marketing("Maple Vet Clinic", "Maple Vet Clinic: Buddy is due for his rabies vaccine. Call 503-555-0162 to schedule. We look forward to seeing you!",
              frozenset({"+15035550162"})),
    Marketing("ClearView Optical", "ClearView Optical: Your new glasses are ready for pickup! Stop by anytime Mon-Sat 9-6."),
    Marketing("Redline Motors", "Redline Motors: Love your car again! Free detailing with any service this month. Book at redlinemotors.com/service"),
    Marketing("FreshMart", "FreshMart: Strawberries 2 for $5 and Honeycrisp apples $1.49/lb this week. See you soon!"),
    Marketing("Starlight Cinemas", "Starlight Cinemas: Date night? Two tickets, popcorn and drinks for $25 every Thursday. starlightcinemas.com"),
    Marketing("Serenity Spa", "Serenity Spa: Mother's Day is Sunday 💐 Treat your mom to a massage. Gift cards 20% off through Saturday."),
    Marketing("Shield Insurance", "Shield Insurance: Your auto policy renews on 7/15. Review your coverage online or call 1-800-555-0123.",
              frozenset({"+18005550123"})),
    Marketing("Nimbus Mobile", "Nimbus Mobile: Unlimited data for $35/mo when you bring your number. Switch in minutes at nimbusmobile.com"),
    Marketing("CycleHouse", "CycleHouse: Tonight's 7pm ride has 3 spots left! Book now in the app. See you on the bike 🚴"),
    Marketing("Scoops", "Scoops: It's National Ice Cream Day! 🍦 Buy one, get one free all day at every Scoops location."),
    Marketing("Lakeside Inn", "Lakeside Inn: We'd love to see you again this summer. Members save 15% on stays of 2+ nights: lakesideinn.com"),
    Marketing("Grubly", "Grubly: OMG, free delivery all weekend! 🎉 Use code FREEDEL at checkout. grubly.com"),
    Marketing("Kismet", "Kismet: Hey {first_name|there}! Your cart misses you 🛒 Complete your order for free shipping: kismet.shop/cart"),
    Marketing("Riverbend Playhouse", "Riverbend Playhouse: Last night to see Our Town! Curtain at 7:30. Tickets at riverbendplayhouse.org"),
    Marketing("Bright Smiles", "Bright Smiles: Your cleaning is tomorrow at 2:30pm. Reply C to confirm or call us at 212-555-0147.",
              frozenset({"+12125550147"})),
    Marketing("Acme", "Acme: Questions about your new plan? Email help@acme.com or visit acme.com/help.",
              company_domains=frozenset({"acme.com"})),
    Marketing("Sugar & Spice Bakery", "Sugar & Spice Bakery: Hey sweet tooth! Cupcakes are buy 2 get 1 free this Friday."),
    Marketing("Petal & Co", "Petal & Co: We love you, loyal shoppers! Enjoy double points all weekend ❤️"),
    # Written before the detector as a held-out set (see KNOWN_* below for the ones it got wrong).
    Marketing("Polished", "Polished: Hey love! 💕 Fall colors are in. Book your next mani at polishednails.com"),
    Marketing("Harvest Table", "Harvest Table: Thinking of you this Thanksgiving 🦃 Order your turkey dinner by 11/20 at harvesttable.com"),
    Marketing("Corner Bistro", "Corner Bistro: Date night Friday? Reserve a table for two and get a free dessert. cornerbistro.com"),
    Marketing("Bright Smiles Dental", "Bright Smiles Dental: Running late for your appointment? Call us at 212-555-0147 so we can hold your spot.", frozenset({"+12125550147"})),
    Marketing("Cloudnine Bedding", "Cloudnine Bedding: Sweet dreams start here. 30% off sheets this weekend: cloudnine.com"),
    Marketing("MetroBank", "MetroBank: Your monthly statement is ready. View it in the MetroBank app."),
    Marketing("Wanderly", "Wanderly: Wish you were here? Flights to Lisbon from $399 round trip. wanderly.com/lisbon"),
    Marketing("Ruby's Diner", "Ruby's Diner: Kids eat free every Tuesday! Bring the whole family tonight."),
    Marketing("Bellwether Books", "Bellwether Books: See you tonight! Author signing with Jane Smith at 7pm, downtown store."),
    Marketing("Spark Energy", "Spark Energy: Hi {first_name}, call me, your account manager, at 800-555-0144 with questions.", frozenset({"+18005550144"})),
    Marketing("Sunny Paws Grooming", "Sunny Paws Grooming: Max is ready for pickup! Your pup looks fabulous 🐾"),
    Marketing("Velvet Lounge", "Velvet Lounge: Ladies night tonight! $5 cocktails until 10. 21+"),
    # The rule-based detector flagged these.
    Marketing("Camp Kinder", "Camp Kinder: Registration for summer camp opens Monday! Pick up the kids' welcome packets at the front desk."),
    Marketing("Peak Fitness", "Peak Fitness: Miss you at class! Come back this week and your next class is free."),
    Marketing("Zest Juice", "Zest Juice: OMG the mango smoothie is back lol 🥭 Get it before it's gone!"),
]

PERSONAL: list[str] = [
    "hey babe running late, pick up milk?",
    "lol did you see that",
    "miss you already xoxo",
    "call me later on my cell 555-867-5309",
    "Running late, be home by 7. Can you pick up the kids?",
    "omg lmao that was hilarious",
    "u up?",
    "wyd tonight? wanna grab a drink",
    "Can't wait to see you tonight 😘",
    "dinner tonight? I can cook if you grab wine",
    "ok hun, talk later. ttyl",
    "Thanks honey, I'll call you after my meeting",
    "sorry babe, meeting ran long. home by 8",
    "brb, grabbing coffee. hbu?",
    "idk what time the party starts, lmk",
    "smh this traffic. be there in 20",
    "Hey sweetie, don't forget your lunch! Love, Mom",
    "Last night was amazing. Can't stop thinking about you",
    "ikr?? she's so annoying lol",
    "Did you feed the dog? I'm stuck at work",
    "text me when you land, love you",
    "my cell is 917-555-0123, call me anytime x",
    "Goodnight sweetheart, sweet dreams 💕",
    "haha yes!! friday works, my place at 8?",
    "you looked so beautiful tonight 😍",
    "heyyy what are you doing this weekend?",
    "Mom's birthday dinner is Sunday, don't be late!!",
    "on my way! want anything from starbucks?",
    "bae where r u",
    "email me at jenny.rep84@gmail.com, my work phone is dead",
    "ttyl, going into a movie",
    "omw, save me a seat",
    "I miss u so much. come home soon",
    "jk jk 😂 you know I love ya",
    "Netflix tonight? I'll bring the snacks",
    "tell your sister I said hi! 😘",
    "where are you?? the kids are waiting",
    # Written before the detector as a held-out set.
    "hey can you call me back when you get a sec",
    "leaving the office now, need anything?",
    "babe did you remember to call the plumber",
    "lmk if you want pizza tonight",
    "haha no way, that's hilarious",
    "You up? can't sleep",
    "miss you, hurry home",
    "I'll be home late, save me some dinner",
    "Thanks for last night 😘",
    "Can you pick me up at 6? my car's in the shop",
    "ugh I hate mondays. coffee later?",
    # The rule-based detector missed these.
    "i'm outside",
    "Don't forget mom's birthday is tomorrow!",
    "that meeting was sooo long 😩 drinks after?",
]

# What the model misses today, kept so the tests notice when that changes: a row that starts being
# caught moves up into PERSONAL. Casual brand copy in the training data uses "love you", "grab" and
# anniversaries too ("Love you guys!", "Grab yours today", "Thanks for 10 years"), which weighs
# against these.
KNOWN_MISSES: list[str] = [
    "Happy anniversary baby. 10 years and I'd do it all again ❤️",
    "Love you too! Drive safe",
    "love you! see you tonight ❤️",
    "Can you grab the dry cleaning on your way home? thx",
]
