/**
 * A compact emoji list for the reaction picker, written for this client (names are the Unicode CLDR short
 * names, lower-cased, plus a few search words). Loaded only with the picker (its own chunk).
 * Format: "emoji name words|emoji name words|..." per category.
 */
const RAW: [string, string][] = [
  [
    "Smileys",
    "😀 grinning face smile happy|😃 grinning face with big eyes|😄 grinning face with smiling eyes|😁 beaming face|😆 laughing squinting|😅 grinning sweat|🤣 rolling on the floor laughing rofl|😂 face with tears of joy lol|🙂 slightly smiling|🙃 upside down|😉 winking wink|😊 smiling blush|😇 halo innocent|🥰 smiling hearts love|😍 heart eyes love|🤩 star struck|😘 blowing a kiss|😗 kissing|😋 yum delicious|😛 tongue|😜 winking tongue|🤪 zany|😝 squinting tongue|🤑 money mouth|🤗 hugging hug|🤭 hand over mouth|🤫 shushing quiet|🤔 thinking hmm|🤐 zipper mouth|🤨 raised eyebrow|😐 neutral|😑 expressionless|😶 no mouth|😏 smirking smirk|😒 unamused|🙄 rolling eyes|😬 grimacing|😌 relieved|😔 pensive|😪 sleepy|🤤 drooling|😴 sleeping|😷 medical mask sick|🤒 thermometer ill|🤕 head bandage hurt|🤢 nauseated|🤮 vomiting|🥵 hot|🥶 cold|🥴 woozy|😵 dizzy|🤯 exploding head mind blown|🤠 cowboy|🥳 partying party|😎 sunglasses cool|🤓 nerd|🧐 monocle|😕 confused|😟 worried|🙁 slightly frowning|😮 open mouth wow surprised|😯 hushed|😲 astonished|😳 flushed|🥺 pleading|😦 frowning open mouth|😧 anguished|😨 fearful|😰 anxious sweat|😥 sad relieved|😢 crying cry sad|😭 loudly crying sob|😱 screaming fear|😖 confounded|😣 persevering|😞 disappointed|😓 downcast sweat|😩 weary|😫 tired|🥱 yawning|😤 steam from nose triumph|😡 pouting angry|😠 angry|🤬 cursing|😈 smiling horns devil|💀 skull dead|💩 pile of poo|🤡 clown|👻 ghost|👽 alien|🤖 robot",
  ],
  [
    "Gestures",
    "👍 thumbs up yes like +1|👎 thumbs down no -1|👌 ok hand|🤌 pinched fingers|✌️ victory peace|🤞 crossed fingers luck|🤟 love you gesture|🤘 horns rock|🤙 call me|👈 pointing left|👉 pointing right|👆 pointing up|👇 pointing down|☝️ index pointing up|✋ raised hand|🤚 raised back of hand|🖐️ hand fingers splayed|🖖 vulcan salute|👋 waving hand wave hello bye|👏 clapping hands clap applause|🙌 raising hands hooray|👐 open hands|🤲 palms up|🤝 handshake deal|🙏 folded hands please thanks pray|✍️ writing hand|💪 flexed biceps strong|🫶 heart hands|👀 eyes look|🧠 brain|👂 ear|👃 nose|👅 tongue|👄 mouth",
  ],
  [
    "Hearts",
    "❤️ red heart love|🧡 orange heart|💛 yellow heart|💚 green heart|💙 blue heart|💜 purple heart|🖤 black heart|🤍 white heart|🤎 brown heart|💔 broken heart|❣️ heart exclamation|💕 two hearts|💞 revolving hearts|💓 beating heart|💗 growing heart|💖 sparkling heart|💘 heart with arrow|💝 heart with ribbon|💯 hundred points 100|💢 anger|💥 collision boom|💫 dizzy star|💦 sweat droplets|💨 dashing away|💬 speech balloon|💭 thought balloon|💤 zzz sleep",
  ],
  [
    "Celebration",
    "🎉 party popper tada celebrate|🎊 confetti ball|🎈 balloon|🎂 birthday cake|🎁 wrapped gift present|🏆 trophy win|🥇 first place medal gold|🥈 second place medal|🥉 third place medal|⭐ star|🌟 glowing star|✨ sparkles|🔥 fire lit hot|⚡ high voltage lightning|🌈 rainbow|☀️ sun|🌙 crescent moon|❄️ snowflake|☔ umbrella rain|🎵 musical note|🎶 musical notes music|🎮 video game|🎯 direct hit bullseye|🎲 game die",
  ],
  [
    "Animals & nature",
    "🐶 dog face|🐱 cat face|🐭 mouse face|🐹 hamster|🐰 rabbit face|🦊 fox|🐻 bear|🐼 panda|🐨 koala|🐯 tiger face|🦁 lion|🐮 cow face|🐷 pig face|🐸 frog|🐵 monkey face|🙈 see no evil monkey|🙉 hear no evil monkey|🙊 speak no evil monkey|🐔 chicken|🐧 penguin|🐦 bird|🦆 duck|🦉 owl|🐝 honeybee bee|🦋 butterfly|🐌 snail|🐢 turtle|🐍 snake|🐙 octopus|🐬 dolphin|🐳 spouting whale|🦄 unicorn|🌸 cherry blossom|🌹 rose|🌻 sunflower|🌷 tulip|🌱 seedling|🌲 evergreen tree|🍀 four leaf clover luck|🍁 maple leaf|🍄 mushroom|🌍 globe europe africa earth|🌊 water wave",
  ],
  [
    "Food & drink",
    "🍎 red apple|🍌 banana|🍇 grapes|🍓 strawberry|🍒 cherries|🍑 peach|🍍 pineapple|🥑 avocado|🍅 tomato|🌶️ hot pepper|🥕 carrot|🌽 ear of corn|🥐 croissant|🍞 bread|🧀 cheese wedge|🥚 egg|🥓 bacon|🍔 hamburger burger|🍟 french fries|🍕 pizza|🌭 hot dog|🌮 taco|🍣 sushi|🍜 steaming bowl ramen|🍪 cookie|🍩 doughnut donut|🍫 chocolate bar|🍿 popcorn|🍦 soft ice cream|☕ hot beverage coffee tea|🍵 teacup|🍺 beer mug|🍻 clinking beer mugs cheers|🍷 wine glass|🥂 clinking glasses toast|🍸 cocktail glass|🧃 beverage box|🥤 cup with straw",
  ],
  [
    "Objects & symbols",
    "💡 light bulb idea|📌 pushpin pin|📎 paperclip|✏️ pencil|📝 memo note|📅 calendar|📈 chart increasing|📉 chart decreasing|📊 bar chart|💻 laptop computer|📱 mobile phone|⌨️ keyboard|🖥️ desktop computer|🔒 locked|🔑 key|🔔 bell|📣 megaphone|📦 package|🚀 rocket ship launch|✈️ airplane|🚗 automobile car|🚲 bicycle|🏠 house home|⏰ alarm clock|⌛ hourglass|💰 money bag|💸 money with wings|🛠️ hammer and wrench tools|🐛 bug|✅ check mark button done yes|☑️ check box|✔️ check mark|❌ cross mark no|❎ cross mark button|⭕ hollow red circle|❓ question mark|❗ exclamation mark|⚠️ warning|🚫 prohibited|➕ plus|➖ minus|🆗 ok button|🆕 new button|🔴 red circle|🟢 green circle|🔵 blue circle|⬆️ up arrow|⬇️ down arrow|➡️ right arrow|⬅️ left arrow|🔁 repeat|♻️ recycling",
  ],
];

export interface Emoji {
  emoji: string;
  name: string;
}

export const EMOJI_CATEGORIES: { name: string; emoji: Emoji[] }[] = RAW.map(([name, list]) => ({
  name,
  emoji: list.split("|").map((entry) => {
    const space = entry.indexOf(" ");
    return { emoji: entry.slice(0, space), name: entry.slice(space + 1) };
  }),
}));

/** Emoji whose name has every word of `query` (as a word start), in list order. */
export function searchEmoji(query: string): Emoji[] {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  const all = EMOJI_CATEGORIES.flatMap((c) => c.emoji);
  if (!words.length) return all;
  return all.filter((e) => {
    const nameWords = e.name.split(" ");
    return words.every((w) => nameWords.some((n) => n.startsWith(w)) || e.emoji === w);
  });
}
