"""Deterministic intent rules (pt-BR and en-US), combined with the destination resolver.

``classify(utterance, keys=..., resolver=..., menu=..., expect=..., language=...)``
returns an ``Intent``. Order of the rules, for speech:

1. a menu key said aloud ("opção dois", "tecla três", "press one", "zero" = operator),
   when the sentence is only that;
2. callback, recognised from its meaning in any common verb form ("me liga",
   "queria que alguém me retornasse", "seria possível vocês me ligarem", "liguem pra
   mim", "aguardo retorno", "call me back", "calling me back would be great", "have
   billing reach out to me"), with the destination when one is named ("pede pro
   financeiro me ligar"). Not a callback: a negated one ("não precisa me ligar",
   "don't call me back"), the caller's own calling ("estou retornando a ligação",
   "i'm returning a call"), or a past call ("vocês me ligaram", "someone called me");
3. goodbye ("tchau", "foi engano", "era só isso", "wrong number", "that's all"),
   unless a destination is named;
4. repeat ("repete", "não entendi", "say that again", "what were the options");
5. yes / no: when a yes/no answer is expected, or the utterance is only yes/no words;
6. transfer, when the resolver matches (or finds an ambiguity: ``ambiguous`` is set
   and ``alternatives`` lists the candidates). ``unsure_which`` is set when the
   caller said they do not know which one / the surname ("a maria, não sei o
   sobrenome"): the conversation then offers the choices with their departments;
7. operator ("recepção", "atendente", "front desk", "falar com uma pessoa", "a real
   person"), only when no destination matched ("someone in billing" is a transfer);
8. unknown.

Keys (DTMF): ``0`` operator, ``*`` repeat; with ``expect="yes_no"`` ``1`` yes and
``2`` no; otherwise ``1``-``9`` pick the menu destination (``menu`` maps key ->
name, see ``Directory.menu()``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Optional

import jellyfish
from rapidfuzz import fuzz

from voiceai_ivr.domain.lexicon import lexicon
from voiceai_ivr.domain.resolve import STOPWORDS, HoursFor, Resolution, Resolver, normalize_text, words_of

KINDS = ("transfer", "callback", "operator", "repeat", "goodbye", "yes", "no", "unknown")


@dataclass(frozen=True)
class Intent:
    kind: str
    destination: Optional[str] = None
    resolution: Optional[Resolution] = None
    source: str = "speech"  # speech | dtmf | none
    text: str = ""  # the utterance or keys as received
    reason: str = ""
    #: The caller said they do not know which one (or the surname).
    unsure_which: bool = False

    @property
    def ambiguous(self) -> bool:
        return bool(self.resolution and self.resolution.ambiguous)

    @property
    def alternatives(self) -> list[str]:
        if not self.resolution:
            return []
        if self.resolution.ambiguous:
            # the tied candidates first; others only as far as they are as good
            return [n for n, s in self.resolution.alternatives if s >= self.resolution.score - 8]
        return [n for n, _ in self.resolution.alternatives]


def _rx(*patterns: str) -> re.Pattern[str]:
    return re.compile(r"(?:^|\b)(?:" + "|".join(patterns) + r")(?:\b|$)")


# All patterns run on normalize_text() output: lower case, no accents, no punctuation.
_GOODBYE = _rx(
    r"tchau", r"ate logo", r"ate mais", r"era so isso", r"e so isso", r"so isso mesmo", r"so isso obrigad[oa]",
    r"pode desligar", r"(?<!nao )vou desligar", r"nao preciso de mais nada", r"nada mais", r"encerrar",
    r"(?:foi|e|deve ser) engano", r"engano", r"liguei errado", r"numero errado", r"deixa pra la", r"deixa para la",
    r"nada nao", r"nao nada", r"esquece",
    r"goodbye", r"good bye", r"bye", r"bye bye", r"that s all", r"thats all", r"that is all",
    r"nothing else", r"you can hang up", r"i m done", r"im done", r"wrong number", r"never ?mind",
    r"nothing thanks?(?: you)?", r"no thanks?(?: you)?$", r"(?:dialed|called|have) the wrong",
    # the caller will call again themselves; the matter is over
    r"depois eu (?:ligo|retorno|ligo de novo|vejo isso)",
    r"(?:eu )?(?:ligo|volto a ligar|retorno)(?: de novo| novamente| outra vez)?(?: \w+){0,2}"
    r" (?:mais tarde|depois|outra hora|outro dia|amanha|semana que vem)",
    r"(?:eu )?vou (?:ligar|retornar|tentar)(?: de novo| novamente| outra vez)?(?: \w+){0,2}"
    r" (?:mais tarde|depois|outra hora|outro dia|amanha|semana que vem)(?: (?:que|porque|pois) .*)?$",
    r"deixa (?:quieto|pra depois|para depois|pra outra hora|pra outro dia)", r"ja (?:resolvi|consegui|resolveu)",
    r"nao precisa mais", r"era isso", r"valeu tchau", r"obrigad[oa] tchau",
    r"(?:i ll|i will|ill) (?:just )?(?:call|try)(?: \w+){0,2} (?:later|tomorrow|another time|some other time|next week"
    r"|monday|tuesday|wednesday|thursday|friday|saturday|sunday)",
    # the caller will write instead ("i'll just email them instead, thanks")
    r"(?:i ll|ill|i will) (?:just )?(?:email|e mail|text|write to|message)(?: \w+){0,2}(?: instead)?"
    r"(?: thanks?| thank you)?$",
    r"that s it", r"thats it", r"that(?: will| ll|ll) be all", r"forget (?:it|about it)",
    r"(?:all|already) (?:set|sorted|taken care of)", r"i (?:just )?figured (?:it )?out", r"not anymore",
    r"that s everything", r"that was (?:it|all)", r"(?:i m|im|we re) (?:good|all good|fine)", r"eu te (?:ligo|retorno)",
    r"(?:i ll|i will) call you back",
    # the caller will go there in person instead ("vou passar na loja amanhã",
    # "i'll just swing by the branch instead")
    r"(?:eu )?vou passar (?:ai|la|pessoalmente|na loja|na agencia|no escritorio)(?: \w+){0,2}"
    r"(?: amanha| depois| mais tarde| outro dia| pessoalmente)?$",
    r"(?:i ll|i will|ill) (?:just )?(?:swing|stop|come|drop|go) (?:by|in|over)(?: to)?(?: the| your)?"
    r"(?: branch| store| office| location)?(?: instead| later| tomorrow)?(?: thanks?(?: you)?)?$",
    # only thanks ("ok obrigada", "alright thank you"): the caller is done
    r"^(?:(?:ah|oh|ok|okay|ta|bom|tudo|bem|beleza|entao|alright|all right|great|perfeito|certo|no|nao|falou) )*"
    r"(?:muito )?(?:obrigad[oa]|brigad[oa]|brigadao|thanks|thank you|valeu)(?: (?:entao|mesmo|viu|tchau|bye|so much"
    r"|a lot|moca|moco|senhora|senhor|querida|querido|amigo|sir|ma am|man|buddy))*"
    # ... and a wish for the rest of the day ("obrigado, boa tarde", "thanks, have a good one")
    r"(?: (?:(?:uma )?boa (?:tarde|noite|semana)|(?:um )?bom dia|(?:have a )?(?:good|nice|great) "
    r"(?:day|one|night|evening|afternoon|weekend)))?$",
    # ... or the wish alone ("alright y'all have a good one")
    r"^(?:(?:ok|okay|alright|all right|well|ok then|y all|you all|you) )*have a (?:good|nice|great|blessed)"
    r" (?:day|one|night|evening|afternoon|weekend)$",
)
#: The caller's matter is done: with goodbye words, a destination they name is past.
_DONE = _rx(
    r"ja (?:falei|resolvi|consegui|conversei|fui atendid[oa])", r"era so isso", r"e so isso", r"so isso mesmo",
    r"already (?:talked|spoke|spoken|got|sorted|resolved|taken care)", r"that s all", r"thats all", r"that s it",
    r"nothing else", r"nada mais", r"i m all set", r"im all set",
)
#: A request made in the sentence ("quero", "I need", "put me through").
_ASKS = _rx(
    r"quero", r"queria", r"preciso", r"gostaria", r"me passa", r"me transfere", r"me coloca",
    r"i want", r"i need", r"i d like", r"id like", r"put me", r"transfer me", r"connect me",
    r"can i (?:talk|speak)",
)
_REPEAT = _rx(
    # first, so that a match takes the whole: the menu said too fast ("say it again slower")
    r"(?:say|read|speak|talk|go)(?: \w+){0,3} (?:slower|more slowly|slowly)",
    r"(?:fala|fale|falar|repete|repita|diz|diga|le|leia)(?: \w+){0,3} (?:mais )?devagar",
    r"(?:falou|fala|falando|falaram) (?:muito |meio |mt )?(?:rapido|depressa)",
    r"(?:you|it|that) (?:talked|spoke|talk|speak|went|was|were|re talking|are talking) (?:way |really |too |so )+fast",
    r"too fast for me",
    r"repete", r"repetir", r"repita", r"pode repetir", r"fala de novo", r"nao entendi", r"como e que e",
    r"o que voce disse", r"de novo por favor", r"mais uma vez", r"quais (?:sao )?as opcoes",
    r"repeat", r"say (?:that|it) again", r"come again", r"pardon", r"what did you say", r"one more time",
    r"i didn ?t (?:get|understand)", r"didn ?t catch", r"what (?:were|are) the options", r"options again",
    r"(?:what|which) (?:were|are) (?:the|my) (?:choices|options)", r"choices again",
    r"(?:say|read|list)(?: \w+){0,2} again",
    # "sorry, what was that?", "wait go back, what was that last part"
    r"^(?:(?:sorry|wait|go back|uh|um|pardon|excuse me|i m sorry|im sorry) )*what was that(?: last part| again)?$",
    r"quais (?:eram|sao) as (?:opcoes|alternativas)", r"as opcoes de novo",
    r"quais (?:eram|sao) os numeros?", r"what (?:were|are) the numbers",
    # the line broke up over what was said ("cortou o que você falou", "you cut out")
    r"(?:cortou|picotou|falhou|travou) (?:o que (?:voce|vc|a senhora|o senhor) (?:falou|disse)|a sua voz|sua voz"
    r"|o audio|um pedaco|a mensagem|no meio)",
    r"you (?:cut out|broke up|were breaking up|re breaking up|are breaking up)",
    # the list of destinations asked for again ("quais são os setores mesmo", "what was number three")
    r"quais (?:eram|sao|e que sao) (?:os|as) (?:setores|departamentos|areas|ramais)",
    r"what (?:was|were|is) (?:number|option|press) \w+", r"^(?:wait |uh |um |hold on )?go back(?: please)?$",
    r"(?:can|could) (?:you|we) go back",
    r"(?:what|which) (?:were|are) the (?:departments|extensions)",
    r"(?:fala|falar|diz|dizer|repete|repetir|le|ler)(?: de novo| novamente| outra vez)? as opcoes",
    # what the menu said, asked again ("o que que era pra apertar", "what was the number for")
    r"o que (?:que )?(?:era|e) (?:pra|para) (?:apertar|digitar|teclar|discar)",
    r"(?:qual|que) (?:era|e) (?:a tecla|o numero|a opcao)",
    r"what (?:was|is|were) (?:i|we) (?:supposed|meant) to (?:press|dial|push|say)",
    r"what (?:number|key|button) (?:was|is|do i|should i)", r"what do i (?:press|dial|push)",
    r"o que (?:que )?(?:eu )?(?:aperto|digito|teclo|disco)", r"qual (?:numero|tecla|opcao) (?:eu )?(?:aperto|digito)",
    r"(?:volta|voltar|volte|retorna)(?: \w+){0,1} (?:o|ao|pro|para o|pra o) menu",
    r"menu (?:de novo|inicial|principal)",
    r"go over (?:that|it|this|those|them|the options|the choices|the menu)(?: \w+){0,2} again",
    r"(?:back to|go back to) the (?:main )?menu", r"main menu",
    r"(?:nao|num) (?:ouvi|escutei|peguei)", r"didn ?t hear", r"i missed (?:that|it|what|the)",
)
#: A sentence that ends by dropping the matter ("oh they just picked her up, never
#: mind, thank you"): a goodbye, whatever was named before it.
_GOODBYE_CLOSES = _rx(
    r"(?:never ?mind|forget (?:it|about it)|deixa (?:pra|para) la|esquece|nao precisa mais|depois eu (?:ligo|retorno))"
    r"(?: (?:then|entao|thanks?|thank you|obrigad[oa]|valeu|tchau|bye))*$",
)
#: A sentence that opens by dropping the matter ("forget it, i'll just drive over
#: there", "esquece, eu passo aí"): what follows is said of it, not asked for.
_GOODBYE_OPENS = _rx(
    r"^(?:(?:ok|okay|ah|oh|uh|um|eh|hum|entao|well|look|no|nao|so|ta|olha|moca|moco) )*"
    r"(?:forget (?:it|about it)|never ?mind|esquece|deixa (?:pra|para) la|deixa quieto|nada nao)\b",
)
#: A request to repeat that opens the sentence ("repete por favor que eu perdi"): it
#: outweighs a topic word said after it (not a name).
_REPEAT_OPENS = _rx(
    r"^(?:(?:desculpa|desculpe|perdao|sorry|oi|ola|hi|hum|eh|ah|uh|um|er|oh|por favor|please|moca|moco|"
    r"voce|vc|pode|podia|poderia|can you|could you|would you|will you) )*"
    r"(?:repete|repetir|repita|repeat|say (?:that|it) again|come again|pardon|fala de novo)\b",
)
_OPERATOR = _rx(
    r"atendente", r"operador(?:a)?", r"telefonista", r"recepcionista", r"recepcao", r"humano", r"uma pessoa",
    r"pessoa de verdade", r"alguem de verdade", r"ser humano", r"qualquer pessoa", r"robo",
    r"(?:falar|conversar|fala|passa|passe|transfere|transfira|me passa)(?: \w+){0,2} com alguem",
    # a role nobody here is named by ("is there a librarian i can talk to")
    r"is there (?:a|an|any|some|someone|somebody)(?: \w+){0,2} (?:i|we) (?:can|could) (?:talk|speak)(?: to| with)?$",
    r"tem (?:algum|alguma|um|uma|alguem)(?: \w+){0,2} (?:que|pra|para) (?:eu )?(?:possa )?(?:falar|conversar)"
    r"(?: comigo)?$",
    r"de carne e osso", r"flesh and blood",
    # someone surveying the organisation ("aqui é do ibge, tô fazendo uma pesquisa")
    r"(?:to|estou|estamos|tamos|tamo) fazendo uma pesquisa", r"(?:i m|im|i am|we re|we are) (?:doing|conducting)"
    r" (?:a |an )?(?:survey|census|study)",
    r"human", r"operator", r"representative", r"a person", r"real person", r"live person", r"live agent",
    r"agent", r"someone real", r"front desk", r"reception", r"receptionist", r"switchboard", r"robot",
    # (not "sorry, i was talking to somebody else": said to someone in the room)
    r"(?<!was )(?<!were )(?:talk|speak|speaking|talking)(?: \w+){0,2} (?:to|with) (?:someone|somebody|anyone|anybody)",
    # someone to attend to the caller, someone who speaks their language
    # the caller was talking to someone and the call dropped
    r"got disconnected", r"(?:got|was|were) cut off", r"(?:call|line) (?:got )?(?:dropped|cut off)",
    r"(?:caiu|cortou) a ligacao", r"a ligacao (?:caiu|cortou)",
    r"(?:alguma|uma) (?:moca|mocinha|moco|senhora)", r"(?:moca|moco|alguem|pessoa|gente)(?: \w+){0,3} (?:me )?atender",
    r"(?:fala|falam|fale|falar|speaks?|speaking) (?:portugues|ingles|espanhol|espanol|portuguese|english|spanish)",
    r"em portugues", r"in (?:portuguese|spanish)",
    r"(?:someone|somebody|anyone|anybody) (?:there )?(?:who|that) can help",
    # (not "alô, tem alguém aí?", "hello, anybody there?": a line check, greeted again)
    r"tem alguem (?:ai |na linha )?(?:pra|para|que) (?:me )?(?:possa )?(?:ajudar|atender)",
    # not a machine ("não quero falar com máquina", "i don't want to talk to a recording")
    r"(?:falar|conversar|fala)(?: \w+){0,2} com (?:uma |um |essa |esse )?(?:maquina|gravacao|computador|robo)",
    r"(?:talk|speak|speaking|talking)(?: \w+){0,2} (?:to|with) (?:a |an |the |this )?(?:machine|computer|recording"
    r"|robot|bot)",
    r"(?:passa|passe|passar|transfere|transfira|transferir)(?: \w+){0,2} (?:pra|para) alguem",
    r"(?:someone|somebody|anyone|anybody) (?:to )?help me", r"can (?:someone|somebody|anyone|anybody) help",
    # the caller does not know whom to ask for, and says no more about it: a
    # receptionist finds out (a story after it is heard as the story)
    r"(?:nao sei|sei la|nem sei)(?: \w+)? (?:com quem|pra quem|para quem|a quem|quem) (?:eu )?"
    r"(?:falo|falar|ligar|ligo|procurar|procuro|devo|tenho|preciso)(?: (?:com|pra|para|aqui|ai|alguem|voce|voces"
    r"|pode|podia|poderia|me|ajuda|ajudar|ajude|por|favor|moca|moco|senhora|eh|hum|entao|tipo|sobre|isso))*$",
    r"(?:don t|dont|do not|not sure|no idea|no clue)(?: know)? (?:who|whom|which (?:department|person|office|one))"
    r"(?: i| to| should| do i| it is| is it)* (?:need|talk|speak|call|ask|want|go)(?: (?:to|with|for|about|this|that"
    r"|can|could|you|someone|somebody|anyone|anybody|help|me|please|here|there|uh|um|so|just|ma am|sir|talk|speak"
    r"|call|ask|get))*$",
)
#: What only the reception answers: where the organisation is.
_RECEPTION_INFO = _rx(
    r"(?:your|ur) (?:street |mailing |physical |office )?address",
    r"endereco (?:de voces|de vcs|dai de voces|ai de voces|da empresa|do escritorio de voces)",
    r"onde (?:voces ficam|fica a empresa|fica o escritorio de voces|e que voces ficam)",
)
#: None of the choices fits: a human should help (before any destination a word names).
_NONE_FITS = _rx(
    r"nenhuma (?:dessas|das|destas) opcoes", r"nao e nenhum(?:a)? (?:desses|dessas|deles|delas)", r"outro assunto",
    # (not "none of the teachers can log in")
    r"none of (?:these|those|them)(?: options| choices)?", r"none of (?:the|your) (?:options|choices)",
    r"something else entirely",
)
#: ... said to "X or Y?" ("nenhuma das duas", "neither", "não é nenhum deles").
_NONE_OF_THEM = _rx(
    r"^(?:nao )?(?:e )?(?:nenhum|nenhuma)(?: (?:dos dois|das duas|deles|delas|desses|dessas|dos tres|das tres))?"
    r"(?: (?:nao|moca|senhora|senhor))?$",
    r"^(?:no )?neither(?: (?:of (?:them|those|the two)|one))?(?: (?:sorry|thanks?))?$",
    r"^(?:no )?none(?: of (?:them|those))?$", r"^(?:no )?(?:it s |its )?not (?:either|any) of (?:them|those)$",
)


def none_of_them(text: str) -> bool:
    """The answer to "X or Y?" is neither ("nenhuma das duas", "neither", "none of
    those"): the caller wants someone else."""
    norm = " ".join(words_of(text))
    return bool(_NONE_OF_THEM.search(norm) or _NONE_FITS.search(norm))


_UNSURE_WHICH = _rx(
    r"(?:nao sei|nao lembro|esqueci|nao tenho certeza|sem saber|nao faco ideia)(?: \w+){0,3}"
    r" (?:sobrenome|qual|quais|resto do nome|nome completo|nome todo)",
    r"(?:nao sei|nao lembro|esqueci)(?: \w+){0,2} sobrenome", r"alguma coisa", r"nao sei qual",
    r"(?:don t|dont|do not) (?:know|remember)(?: \w+){0,3} (?:last name|surname|which|full name|second name)",
    r"(?:not sure|forgot|can t remember|cannot remember|no idea)(?: \w+){0,3}"
    r" (?:last name|surname|which|full name|second name)",
    r"something",
)
_YES_WORDS = frozenset(
    "sim isso isso mesmo pode pode ser correto certo certinho exato exatamente claro com certeza "
    "confirmo confirmado ok okay beleza positivo aham uhum perfeito tá ta esta isso ai "
    "yes yeah yep yup sure correct right affirmative absolutely please do exactly".split()
)
_NO_WORDS = frozenset(
    "nao não negativo errado incorreto nada disso nunca nope no nah wrong incorrect negative not".split()
)
# Filler allowed around yes/no words in a short answer ("sim, por favor").
_YES_NO_FILLER = frozenset(
    "por favor obrigado obrigada e o a esta it is that s thats thank thanks you senhor senhora".split()
)

# --------------------------------------------------------------------------- spoken menu keys

_DIGITS = {
    "pt-BR": {"zero": "0", "um": "1", "uma": "1", "dois": "2", "duas": "2", "tres": "3", "quatro": "4",
              "cinco": "5", "seis": "6", "meia": "6", "sete": "7", "oito": "8", "nove": "9"},
    "en-US": {"zero": "0", "oh": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
              "six": "6", "seven": "7", "eight": "8", "nine": "9"},
}
_KEY_FILLER = {
    "pt-BR": frozenset("o a e eu quero queria opcao tecla teclo teclar digito numero aperto apertar "
                       "escolho a opcao por favor ne pode ser ah eh hum".split()),
    "en-US": frozenset("the i want option number press key digit choose select pick please uh um er "
                       "let s go with it s its ll take ill do d like".split()),
}


#: Words that say the next number is a key of the menu ("aperta o dois", "I'll take option three").
_KEY_CUES = frozenset("opcao opcoes tecla teclo teclar teclei aperta aperto apertar apertei digito digitar digita "
                      "digitei cliquei escolhi option press pressing pressed pushed dialed key number numero".split())
_ORDINALS = {
    "pt-BR": {"primeira": "1", "primeiro": "1", "segunda": "2", "segundo": "2", "terceira": "3", "terceiro": "3",
              "quarta": "4", "quarto": "4", "quinta": "5", "quinto": "5"},
    "en-US": {"first": "1", "second": "2", "third": "3", "fourth": "4", "fifth": "5"},
}
_ASKED_WHICH = frozenset("was is s were era e eram sao qual".split())
_CUE_SKIP = frozenset("o a numero na no the number um".split())


def _cued_key(words: Sequence[str], langs: Sequence[str]) -> Optional[str]:
    """A key named after a cue word ("aperta o dois", "let me do option number two")
    or an ordinal next to "option" ("a segunda opção", "the second option")."""
    if len(words) > 10:
        return None
    for i, w in enumerate(words):
        if w not in _KEY_CUES or (w in ("number", "numero") and i > 0 and words[i - 1] in _ASKED_WHICH):
            continue  # "what was number three?": the menu asked about, not a key chosen
        for lang in langs:
            ords = _ORDINALS[lang]
            if i > 0 and w in ("opcao", "option") and words[i - 1] in ords:
                return ords[words[i - 1]]
            j = i + 1
            while j < len(words) and j <= i + 3 and words[j] in _CUE_SKIP and words[j] not in _DIGITS[lang]:
                j += 1
            if j < len(words):
                nxt = words[j]
                if nxt in _DIGITS[lang]:
                    return _DIGITS[lang][nxt]
                if len(nxt) == 1 and nxt.isdigit():
                    return nxt
    return None


def spoken_key(norm: str, language: Optional[str]) -> Optional[str]:
    """The menu key a sentence made only of a key says ("opção dois" -> "2", "press
    one" -> "1"), or a key named after a cue ("aperta o dois", "I'll take option
    three"), or None. ``language`` None: either language."""
    langs = [language] if language in _DIGITS else list(_DIGITS)
    words = norm.split()
    if not words:
        return None
    cued = _cued_key(words, [lang for lang in langs if lang])
    if cued is not None:
        return cued
    if len(words) > 5:
        return None
    for lang in langs:
        digits = _DIGITS[lang]
        filler = _KEY_FILLER[lang]
        rest = [w for w in words if w not in filler or (w in digits and lang == "pt-BR" and w in ("um", "uma"))]
        if rest and len(set(rest)) == 1 and len(rest) <= 3:
            # one key, said once or pressed again and again ("zero zero zero")
            w = rest[0]
            if w in digits:
                return digits[w]
            if len(w) == 1 and w.isdigit():
                return w
    return None


# --------------------------------------------------------------------------- callback by meaning

# Verb forms that ask someone else to call the caller (imperative, subjunctive,
# infinitive, personal infinitive, conditional, gerund, future, present of "vocês").
_PT_CALL = re.compile(
    r"^(?:lig|retorn|telefon|contat)(?:a|e|em|am|ar|arem|asse|assem|ando|aria|ariam|ara|arao|ariamos)$"
    r"|^ligu(?:e|em)$"
)
_PT_PAST_OR_MINE = re.compile(r"^(?:lig|retorn|telefon|contat)(?:ou|aram|ei|ava|avam|o)$|^liguei$")
_PT_ME = frozenset(("me",))
_PT_TO_ME = (("pra", "mim"), ("para", "mim"), ("comigo",), ("de", "volta"), ("a", "ligacao"),
             ("minha", "ligacao"), ("o", "contato"), ("a", "chamada"))
_PT_FIRST_PERSON = frozenset("eu estou to tava estava estamos".split())
_EN_CALL = frozenset("call calling ring ringing phone phoning contact contacting reach text".split())
_EN_FIRST_PERSON = frozenset("i im we were ive ll".split())
_NEGATORS = frozenset(
    "nao nem nunca ninguem sem nada esquece dispenso dispensa no not never nobody dont don didn doesn neither forget"
    " nenhum"
    .split())
_NEGATION_SKIP = frozenset(
    """precisa precisar preciso precisam quero queria quer querem pode podem vai vao necessario e que se
    me pra para um uma o a mais de voces vcs vc voce alguem ninguem nao ligar ficar
    need needs to want wants a an the me t have has any anyone anybody you guys for someone somebody please do does
    them him her
    will gonna going should must need wait waiting for esperar aguardar esperando aguardando bother worry
    wanna around sitting essa esse papo historia get getting receive receber jeito vou
    put on be placed added add colocar coloca coloque bota botar na lista
    another outro outra time tempo""".split()
)
_EN_CALLBACK = _rx(
    r"call ?back", r"callback", r"call me", r"ring me", r"give (?:me|us) a (?:call|ring)", r"get back to (?:me|us)",
    r"return (?:my|our|his|her|their) calls?", r"reach out to (?:me|us)", r"contact me", r"reach me", r"calling me",
    r"(?:rather|prefer|wish)(?: that)? (?:you|someone|somebody|they|he|she) (?:called|call|rang) me",
)


def _negated(words: Sequence[str], i: int) -> bool:
    """A negator governs the word at ``i`` through modal/desire words only
    ("não precisa me ligar", "no need to call me back", "don't want a callback");
    "que retorno o quê" waves the callback away."""
    if 0 < i and words[i - 1] == "que" and tuple(words[i + 1:i + 3]) == ("o", "que"):
        return True
    j = i - 1
    steps = 0
    while j >= 0 and steps < 7:
        w = words[j]
        if w in _NEGATORS:
            return True
        if w not in _NEGATION_SKIP:
            return False
        j -= 1
        steps += 1
    return False


def _negated_after(words: Sequence[str], i: int) -> bool:
    """A callback word taken back by the words after it ("retorno não, eu espero na
    linha", "callback no, just put me through", "me ligar depois não", "deixar recado
    não adianta", "a callback won't help")."""
    nouns = words[i] in ("retorno", "callback", "recado", "ligacao", "mensagem", "message")
    if not nouns and not _PT_CALL.match(words[i]):
        return False
    j = i + 1
    while j < len(words) and j <= i + 2 and words[j] in _LATER:
        j += 1
    if not nouns and j == i + 1:
        return False  # a verb only with "depois" between: "me ligar depois não" (not "me liga não tem problema")
    rest = tuple(words[j:j + 3])
    if rest[:1] in (("nao",), ("no",)) and not (len(rest) > 1 and rest[1] in _NOT_A_REFUSAL):
        return True
    return any(rest[:len(p)] == p for p in _NO_USE)


#: Between a callback word and its refusal ("me ligar depois não").
_LATER = frozenset("depois mais tarde later ai so".split())
#: A callback said to be of no use ("recado não adianta", "a callback won't help").
_NO_USE = (("nao", "adianta"), ("nao", "resolve"), ("nao", "serve"), ("won", "t"), ("wont",), ("doesn", "t"),
           ("is", "useless"), ("is", "no", "use"), ("is", "no", "good"))


#: After "retorno não": words that make it a statement, not a refusal ("retorno não veio").
_NOT_A_REFUSAL = frozenset("veio chegou recebi tive teve came got".split())


#: "ia me ligar", "iam me retornar": a call promised in the past, reported.
_PT_WOULD = frozenset("ia iam iria iriam".split())


def _pt_callback_at(words: Sequence[str], i: int) -> bool:
    w = words[i]
    before = words[max(0, i - 2):i]
    after = tuple(words[i + 1:i + 4])
    if _PT_FIRST_PERSON & set(before) and not (i > 0 and words[i - 1] == "me"):
        return False  # "estou retornando", "tô ligando"
    if w.endswith("ando") and not (i > 0 and words[i - 1] in _PT_ME):
        return False  # "retornando a chamada do rafael": the caller's own calling
    if w in ("retorno", "retornos"):
        if before and before[-1] in ("eu", "te", "lhe", "vos"):
            return False  # "eu te retorno depois": the caller will call
        nxt = words[i + 1:i + 3]
        if nxt and nxt[0] in ("do", "da", "dos", "das") and not (len(nxt) > 1 and nxt[1] in ("ligacao", "chamada")):
            return False  # "o retorno do pedido"
        return True
    if w in ("receber", "receba") and after[:1] and after[0] in ("uma", "um", "ligacao", "telefonema", "contato"):
        return True
    if w in ("entre", "entrem", "entrar", "entrarem", "entrasse", "entrassem") and after[:2] == ("em", "contato"):
        return (len(after) > 2 and after[2] == "comigo") or (i > 0 and words[i - 1] == "me")
    if w in ("chama", "chame", "chamem", "chamar", "chamarem", "chamasse", "chamassem"):
        return "volta" in words[i + 1:i + 4] and i > 0 and words[i - 1] == "me"
    if not _PT_CALL.match(w) or _PT_PAST_OR_MINE.match(w):
        return False
    if after[:1] == ("com",) and after[1:2] and after[1] in ("o", "a", "os", "as"):
        return False  # "me liga com o financeiro": put me through, said as "connect me"
    if i > 1 and words[i - 1] in _PT_ME and words[i - 2] in _PT_WOULD:
        return False  # "prometeu que ia me retornar": a promise reported, not a request
    if i > 0 and words[i - 1] in _PT_ME:
        return True
    if any(after[:len(p)] == p for p in _PT_TO_ME):
        return True
    if "volta" in words[i + 1:i + 3]:
        return True
    if w.endswith("em") and not (after[:1] and after[0] in ("pro", "pra", "para", "no", "na", "ao") and
                                 after[1:2] != ("mim",)):
        return True  # "liguem", "retornem": said to "vocês"
    return False


def _en_callback(words: Sequence[str]) -> Optional[int]:
    norm = " ".join(words)
    for m in _EN_CALLBACK.finditer(norm):
        i = len(norm[:m.start()].split())
        before = set(words[max(0, i - 2):i])
        if _EN_FIRST_PERSON & before and words[i] in ("call", "calling") and "back" in words[i + 1:i + 3]:
            continue  # "i'm calling back about"
        to_call_back = words[i] == "call" and "back" in words[i + 1:i + 3] and words[i + 1:i + 2] != ["me"]
        if words[max(0, i - 2):i] == ["me", "to"] or (words[max(0, i - 1):i] == ["to"] and to_call_back):
            continue  # "asking me to call back", "left a message to call her back": the caller is to call
        if words[i] == "reach" and i + 1 < len(words) and words[i + 1] == "me":
            pass
        return i
    return None


#: Leaving a message for someone is a callback request for them.
_MESSAGE = _rx(
    r"(?:deixar|deixa|deixo|deixe|anota|anotar|anote|passa|passar|passe|dar|da|mandar|manda|mande|tem como deixar)"
    r" (?:um |o |uma |esse |este )?recado", r"recado (?:pra|para|pro|ao|a)",
    r"leave (?:a |him a |her a |them a |an urgent )?(?:message|voicemail|voice mail)", r"take (?:a|my) message",
    r"pass (?:on )?a message", r"(?:caixa postal|correio de voz)", r"(?:get|be) in touch with me",
    r"(?:deixar|deixa|deixo|deixe|mandar|manda|mande) (?:uma |a )?mensagem (?:pra|para|pro|ao|a)\b",
    r"give (?:him|her|them) (?:a|the) message", r"leave (?:word|my number)",
    # "pede pro pessoal da implantação me chamar amanhã" (chamar: to call)
    r"(?:pede|peca|pedir|fala|diga|diz) (?:pro|pra|para|pros|pras|ao|a|o) (?:\w+ ){0,4}(?:me|nos) (?:chamar|chamarem)",
    # "just let elizabeth know i called", "avisa a paula que eu liguei"
    r"(?:let|tell) (?:\w+ ){1,3}(?:know )?(?:that )?(?:i|we) (?:called|phoned|rang|tried to reach)",
    r"(?:avisa|avise|avisar|fala|fale|diz|diga|dizer) (?:\w+ ){1,3}que (?:eu )?(?:liguei|telefonei|ligamos)",
)
#: The caller asked for a callback before ("já pedi retorno três vezes", "I asked for a
#: callback twice"): with a transfer asked for now, it is that transfer.
_PAST_CALLBACK = _rx(
    r"(?:pedi|pedimos|pedindo|solicitei|solicitamos|pedido de|ja pedi|aguardando|esperando|espero ha|asked for"
    r"|asked you for|asking for"
    r"|requested|request(?:ed)? a|waiting for|been waiting|already (?:asked|requested|had))(?: \w+){0,3}"
    r" (?:retorno|ligacao|callback|call back|call|calls|ligar|ligarem|retornar|retornarem)",
    r"(?:retorno|ligacao|callback|call back)(?: \w+){0,2} (?:twice|times|vezes|already)",
    # messages left before ("já deixei recado pro thiago ontem", "i left two voicemails")
    r"(?:ja deixei|deixei|deixamos|ja mandei)(?: \w+){0,2} (?:recado|recados|mensagem|mensagens)",
    r"(?:already )?left (?:\w+ )?(?:message|messages|voicemail|voicemails)",
    # a callback promised before and not made
    r"(?:disse|disseram|falou|falaram|ficou|ficaram) (?:que )?(?:\w+ ){0,3}(?:ia|iam|de|iria|iriam|vai|vao)(?: me)?"
    r" (?:ligar|retornar)",
    # waiting for a call that did not come ("esperando a rosângela me ligar", "waiting a week for X to call me")
    r"(?:esperando|aguardando|espero|esperei|aguardo|aguardei)(?: \w+){0,8} (?:me )?(?:ligar|retornar|ligacao|retorno)",
    # tired of waiting ("não aguento mais esperar retorno"; not "não posso esperar")
    r"(?:aguento|aguenta|cansei de|cansada de|cansado de|chega de)(?: mais)? (?:esperar|aguardar)(?: \w+){0,3}"
    r" (?:retorno|ligacao|ligarem|retornarem)",
    r"waiting(?: \w+){0,8} (?:to )?(?:call|calls|callback|call back)",
    # messages that go nowhere ("não adianta deixar recado", "só me mandam deixar recado", "ninguém retorna")
    r"(?:nao adianta|cansei de|chega de)(?: \w+){0,3} (?:recado|recados|mensagem|retorno|ligar)",
    r"(?:so )?(?:me )?mandam deixar (?:recado|mensagem)", r"ninguem (?:me )?(?:retorna|liga de volta|ligou|retornou)",
    r"ja liguei(?: \w+){0,2} vezes", r"nobody (?:ever )?calls? (?:me )?back", r"(?:called|calling)(?: \w+){0,2} times",
    r"(?:say|says|said|told|promised)(?: \w+){0,3} (?:would|will|ll|d|to) (?:call|get back)", r"supposed to call",
    r"promised (?:me |us )?(?:a |an )?(?:call back|callback|call|return call)",
    r"never got (?:one|a call|it|a callback)",
    r"(?:prometeram|prometeu|prometido)(?: \w+){0,2} (?:retorno|ligacao|ligar|retornar)",
    # "faz uma semana que eu deixo recado pro wagner", "é a terceira vez que eu ligo"
    r"faz (?:\w+ ){1,3}que (?:eu )?(?:deixo|to deixando|estou deixando|ligo|to ligando|estou ligando|espero)",
    r"(?:segunda|terceira|quarta|quinta) vez que (?:eu )?(?:ligo|to ligando|estou ligando|deixo)",
    # callbacks offered again and again ("stop offering me a callback", "I keep getting told somebody will call")
    r"(?:stop|quit) (?:offering|giving|telling)(?: \w+){0,3} (?:callback|call back|call|calls)",
    r"keep (?:getting told|telling me|saying)(?: \w+){0,4} (?:call|calls|callback)",
    r"(?:para|pare|parem) de (?:me )?(?:oferecer|falar|dizer)(?: \w+){0,3} (?:retorno|ligacao|ligar)",
    r"(?:sempre|toda vez) (?:me )?(?:dizem|falam) que (?:vao|vai) (?:me )?(?:ligar|retornar)",
    r"never (?:called|got back)", r"nao (?:me )?(?:ligou|ligaram|retornou|retornaram)",
)
_TRANSFER_NOW = _rx(
    r"me passa", r"passa (?:pro|pra|para)", r"me transfer\w*", r"transfer\w* (?:pro|pra|para)", r"quero falar",
    r"preciso falar", r"me coloca", r"me conecta", r"agora", r"put me through", r"transfer me", r"connect me",
    r"let me (?:talk|speak)", r"i (?:want|need) to (?:talk|speak)", r"right now", r"now", r"today", r"hoje",
    r"get me (?:to |through to )?(?:the |a |an |your )?(?:\w+ )?(?:department|office|management|manager|supervisor)",
    r"quero (?:o|a|os|as|com)", r"(?:i can|i ll|i will|i d rather) (?:hold|wait)", r"espero na linha",
    r"aguardo na linha", r"(?:coloca|coloque|poe|bota|passa)(?: \w+){0,3} na linha", r"me liga com (?:o|a|os|as)",
    r"(?:me )?(?:transfere|transfira|passa|passe) (?:pra|pro|para|com)", r"get me", r"put me on with",
    r"give me (?!a call|a ring|a callback|a call back)",
)
#: The caller will call again themselves ("I'll call back later", "depois eu ligo"):
#: not a callback request, unless they also ask to be called ("call me").
_CALL_AGAIN = _rx(
    r"(?:i ll|i will|ill|i m gonna|im gonna|i can) (?:just )?(?:call|ring|try)(?: you| you guys)?"
    r" (?:back|again|later|tomorrow)",
    r"depois eu (?:ligo|retorno|ligo de novo)",
    r"(?:eu )?(?:ligo|retorno|volto a ligar) (?:depois|mais tarde|amanha|outra hora|outro dia|de novo|novamente)",
)
_CALL_ME = _rx(
    r"call me", r"give me a call", r"ring me", r"get back to me", r"me (?:liga|ligar|ligue|liguem|retorna|retornar"
    r"|retorne|retornem)", r"(?:ligar|retornar|retorno) (?:pra|para) mim",
)


def callback_request(norm: str) -> tuple[bool, bool]:
    """(asks for a callback, the request is negated) for one normalised sentence."""
    words = norm.split()
    cues: list[int] = [i for i in range(len(words)) if _pt_callback_at(words, i)]
    en = _en_callback(words)
    if en is not None:
        cues.append(en)
    spans = [(i, i) for i in cues]
    # a message: negated before it ("não quero deixar recado") or after it ("deixar recado não adianta")
    spans.extend((len(norm[:m.start()].split()), len(norm[:m.end()].split()) - 1) for m in _MESSAGE.finditer(norm))
    if not spans:
        return False, False
    live = [i for i, end in spans if not _negated(words, i) and not _negated_after(words, end)]
    return bool(live), not live


#: Words before a first name that make it the caller's own ("meu nome é joão", "this is john").
_SELF = (("meu", "nome", "e"), ("meu", "nome"), ("aqui", "e"), ("aqui", "quem", "fala", "e"), ("sou", "o"),
         ("sou", "a"), ("sou",), ("da", "parte", "de"), ("this", "is"), ("name", "is"), ("my", "name", "s"),
         ("i", "m"), ("im",), ("it", "s"), ("on", "behalf", "of"), ("calling", "for"))


def _preceded_by(words: Sequence[str], i: int, phrases: Sequence[tuple[str, ...]]) -> bool:
    """The words just before ``i`` are one of ``phrases``."""
    return any(tuple(words[max(0, i - len(p)):i]) == p for p in phrases)


#: Words before a name of a place or a thing ("from columbus to charlotte", "at
#: washington park", "o livro do harry potter"), not of a person asked for.
_PLACE_BEFORE = frozenset("from in at near into of do da dos das no na nos nas em de".split())
_TOWARDS = frozenset("to pra pro para".split())
_SPEAK = frozenset("talk speak speaking talking falar fala passa passar transfer transfere ask".split())


def _names_someone(norm: str, nobody_in: Optional[Resolver] = None) -> bool:
    """``_asks_for_someone``, where the name is not that of a place or a thing by
    the word before it (see ``_PLACE_BEFORE``; "to"/"pra" only after a verb of speaking);
    with ``nobody_in``, a name that resolver does not take for one of its own (a
    department's name split by ASR, "ju ridico", is not Ju Ridico)."""
    words = norm.split()
    for i in range(len(words) - 1):
        pair = " ".join(words[i:i + 2])
        if not _asks_for_someone(pair):
            continue
        if nobody_in is not None and ((found := nobody_in.resolve(pair)).match is not None or found.ambiguous):
            continue
        prev = words[i - 1] if i else ""
        if prev in _PLACE_BEFORE or (prev in _TOWARDS and (i < 2 or words[i - 2] not in _SPEAK)):
            continue
        if prev in ("uma", "um", "an") and words[i] in lexicon().titles:
            continue  # "uma senhora bateu no meu carro": a lady, not Mrs Bateu
        if _own_name(words, i):
            continue
        return True
    return False


#: Words that give a person's name ("se chamava edson", "his name was mike"): a first
#: name nobody here has, said so, is for a human to help with, not to be asked again.
_NAME_SAID = tuple(tuple(p.split()) for p in (
    "se chamava", "se chama", "chamava", "o nome dele era", "o nome dela era", "o nome dele e", "o nome dela e",
    "his name was", "her name was", "his name is", "her name is", "named"))


def _asks_for_someone(norm: str) -> bool:
    """The caller names a person by full name (or a title and a name) who is not in
    the directory: a human at the reception should help ("is there a fernanda costa
    working there", "o doutor marcos"), unless the name is the caller's own. A
    first name alone that is nobody's ("o mario") is asked again instead, unless the
    caller says it is the name ("o corretor se chamava edson")."""

    lx = lexicon()
    words = norm.split()
    for i, w in enumerate(words):
        nxt = words[i + 1] if i + 1 < len(words) else ""
        full = bool(nxt) and not lx.is_common(nxt) and nxt not in STOPWORDS and len(nxt) > 2
        named = (lx.is_first_name(w) and not lx.is_common(w) and full) or (
            i > 0 and words[i - 1] in lx.titles and not lx.is_common(w) and len(w) > 2
            and not (i > 1 and words[i - 2] in ("uma", "um", "an"))) or (  # "uma senhora bateu": a lady
            lx.is_first_name(w) and _preceded_by(words, i, _NAME_SAID))
        if not named:
            continue
        if _own_name(words, i):
            continue
        return True
    return False


#: A caller's own title or trade between "this is" and their name ("this is attorney
#: ray gallagher", "aqui é o doutor paulo", "this is officer diaz").
_OWN_ROLES = frozenset("""attorney lawyer officer detective deputy sergeant agent inspector advogado advogada
    delegado delegada investigador investigadora inspetor inspetora engenheiro engenheira corretor corretora
    o a""".split())


#: Words before a name that make it someone the caller speaks for or of, not someone
#: asked for ("sou advogado do senhor joão batista", "calling for my mother jane").
_FOR_WHOM = tuple(tuple(p.split()) for p in (
    *(f"{who} {of}" for who in ("advogado", "advogada", "filho", "filha", "esposa", "marido", "mae", "pai",
                                "irmao", "irma", "neto", "neta", "procurador", "procuradora")
      for of in ("do", "da", "de")),
    "represento o", "represento a", "meu cliente", "minha cliente", "my client", "my clients", "representing",
    "attorney for", "lawyer for", "my mother", "my mom", "my father", "my dad", "my husband", "my wife",
    "my son", "my daughter", "minha mae", "meu pai", "meu marido", "minha esposa", "meu filho", "minha filha",
    # "i'm calling for my boss mister delgado"
    "my boss", "meu chefe", "minha chefe", "meu patrao", "minha patroa"))


def _own_name(words: Sequence[str], i: int) -> bool:
    """The name at ``i`` is the caller's own: "this is john", or with their title
    or trade between ("this is attorney ray gallagher", "aqui é o doutor paulo");
    or of whom they speak for ("sou advogado do senhor joão batista")."""
    if _preceded_by(words, i, _SELF) or _preceded_by(words, i, _FOR_WHOM) or (
            i > 0 and words[i - 1] in lexicon().titles and _preceded_by(words, i - 1, _FOR_WHOM)):
        return True
    j = i
    while j > 0 and j > i - 2 and (words[j - 1] in _OWN_ROLES or words[j - 1] in lexicon().titles):
        j -= 1
        if _preceded_by(words, j, _SELF):
            return True
    return False


def _yes_no(norm: str, *, expected: bool) -> Optional[str]:
    words = norm.split()
    if not words:
        return None
    has_no = any(w in _NO_WORDS for w in words) or "of course not" in norm
    has_yes = any(w in _YES_WORDS for w in words) or "that s right" in norm or "tudo certo" in norm
    if not (has_no or has_yes):
        return None
    if not expected:
        # Outside a yes/no question only a bare answer counts ("sim", "no thanks").
        content = [w for w in words if w not in _YES_WORDS and w not in _NO_WORDS and w not in _YES_NO_FILLER]
        if content:
            return None
    return "no" if has_no else "yes"


def classify(
    utterance: str = "",
    *,
    keys: str = "",
    resolver: Optional[Resolver] = None,
    menu: Optional[Mapping[str, str]] = None,
    expect: str = "open",
    at: Optional[datetime] = None,
    hours_for: Optional[HoursFor] = None,
    language: Optional[str] = None,
) -> Intent:
    """Classify one turn. ``keys`` (DTMF) win over speech when both are present.
    ``expect`` is ``"open"`` (what can I do for you?) or ``"yes_no"`` (a confirmation).
    ``language`` ("pt-BR", "en-US"; None: either) is the language of the call."""
    keys = (keys or "").strip()
    if keys:
        return _from_keys(keys, menu or {}, expect)
    text = utterance or ""
    norm = " ".join(words_of(text))
    if not norm:
        return Intent("unknown", source="none", text=text, reason="no input")
    if expect != "yes_no":
        key = spoken_key(norm, language)
        if key is not None:
            found = _from_keys(key, menu or {}, expect)
            return Intent(found.kind, destination=found.destination, text=text, reason=f"said key {key}")
    res: Optional[Resolution] = None
    if resolver is not None:
        res = resolver.resolve(text, at=at, hours_for=hours_for)
        if res.match is None and res.unrouted is None:
            # not when the whole is a need nobody here has ("I'm a reporter ... I'd like a comment")
            res = _story_end(norm, resolver, at, hours_for) or res
    named = res is not None and (res.match is not None or res.ambiguous)
    wants_callback, negated = callback_request(norm)
    if wants_callback and named and _PAST_CALLBACK.search(norm) and _TRANSFER_NOW.search(norm):
        wants_callback = False  # "já pedi retorno três vezes, me passa pro financeiro agora"
    if wants_callback and _CALL_AGAIN.search(norm) and not _CALL_ME.search(norm):
        wants_callback = False  # "never mind, I'll call back later": the caller will call
    if wants_callback:
        res = _beyond_callback_words(norm, res, resolver, at, hours_for)
        dest = (res.match or res.guess) if res is not None else None
        return Intent("callback", destination=dest, resolution=res, text=text, reason="callback request")
    if _GOODBYE.search(norm) and (not named or (_DONE.search(norm) and not _ASKS.search(norm))
                                  or _named_only_in(_GOODBYE, norm, resolver)
                                  or (_GOODBYE_CLOSES.search(norm) and not _ASKS.search(norm))
                                  or (_GOODBYE_OPENS.search(norm) and _topic_only(res) and not _ASKS.search(norm))):
        # "já falei com a maria, era só isso, obrigado": a destination said of what is done;
        # "vou desligar, tchau": no destination but in the goodbye itself ("desligar")
        return Intent("goodbye", text=text, reason="goodbye words")
    if _REPEAT.search(norm) and (not named or (_REPEAT_OPENS.search(norm) and _topic_only(res))
                                 or _named_only_in(_REPEAT, norm, resolver)):
        return Intent("repeat", text=text, reason="asked to repeat")
    yn = _yes_no(norm, expected=(expect == "yes_no"))
    if yn is not None:
        dest = res.match if (res is not None and yn == "no") else None  # "não, o suporte"
        return Intent(yn, destination=dest, resolution=res if dest else None, text=text, reason=f"{yn} words")
    if _NONE_FITS.search(norm):
        return Intent("operator", resolution=res, text=text, reason="none of the choices fits")
    if res is not None and named and resolver is not None and res.match is not None \
            and not resolver.is_person(res.match) and not _topic_only(res) and _names_someone(norm, resolver):
        # "o joão batista do almoxarifado", "tony castellano, my driver manager": a
        # person nobody here is, by full name, with the department they work in,
        # unless someone of that first name is here: of that department ("o rafael
        # queiroz do setor de compras": Rafael Drumond of Compras, his surname misheard)
        # transferred to, otherwise offered
        there = _namesake_there(norm, resolver, at, hours_for)
        if there is not None and there.match is not None:
            cat = resolver.category_of(there.match)
            if cat is not None and cat == resolver.category_of(res.match):
                return Intent("transfer", destination=there.match, resolution=there, text=text,
                              reason=f"{there.reason} (a surname nobody here has)")
            # of another department, or of one nobody can tell: "did you mean Thiago Ramos?"
            asked = Resolution(None, there.score, [(there.match, there.score)], True, None,
                               f"nobody here by that full name; {there.match!r} of that first name: ask", [])
            return Intent("transfer", resolution=asked, text=text, reason=asked.reason, unsure_which=True)
        return Intent("operator", resolution=res, text=text, reason="asked for someone not in the directory")
    if res is not None and named and _topic_only(res) and (
            _said_as_a_name(norm, res) or (resolver is not None and _names_someone(norm))):
        # "somebody named bill yates", "my driver manager tony castellano": a person
        # nobody here is, not the department a word of the sentence is about
        return Intent("operator", resolution=res, text=text, reason="asked for someone not in the directory")
    if res is not None and named:
        unsure = bool(res.ambiguous and _UNSURE_WHICH.search(norm))
        return Intent("transfer", destination=res.match, resolution=res, text=text, reason=res.reason,
                      unsure_which=unsure)
    if _OPERATOR.search(norm):
        why = "asked for a person" + (" (not a callback)" if negated else "")
        return Intent("operator", resolution=res, text=text, reason=why)
    if _RECEPTION_INFO.search(norm):
        return Intent("operator", resolution=res, text=text, reason="asked where the organisation is")
    if resolver is not None and _asks_for_someone(norm):
        namesakes = _namesakes(norm, resolver)
        if namesakes is not None:
            # "a maria oliveira": no Maria Oliveira here, but Maria Silva and Maria
            # Souza: asked whether it is one of them (a surname misheard, or the
            # reception when it is neither)
            if namesakes.match is not None:
                return Intent("transfer", destination=namesakes.match, resolution=namesakes, text=text,
                              reason=namesakes.reason)
            return Intent("transfer", resolution=namesakes, text=text, reason=namesakes.reason, unsure_which=True)
        return Intent("operator", resolution=res, text=text, reason="asked for someone not in the directory")
    if _RETURNED_CALL.search(norm):
        # "recebi uma ligação desse número": who called, and about what, is asked
        return Intent("unknown", resolution=res, text=text, reason="returning a call from this number")
    guess = resolver.by_topic_model(text) if resolver is not None else None
    if guess is not None:
        return Intent("transfer", destination=guess.match, resolution=guess, text=text, reason=guess.reason)
    if res is not None and res.unrouted:
        return Intent("operator", resolution=res, text=text, reason=res.reason)
    why = res.reason if res else "no rule matched"
    return Intent("unknown", resolution=res, text=text, reason=why + ("; callback declined" if negated else ""))


def _beyond_callback_words(norm: str, res: Optional[Resolution], resolver: Optional[Resolver],
                           at: Optional[datetime], hours_for: Optional[HoursFor]) -> Optional[Resolution]:
    """The destination of a callback, not heard in the callback's own words: "can
    the lawn guy call me back" is not the On-Call Technician. What the sentence
    names without them (possibly nothing: a callback for whoever can help)."""
    if res is None or resolver is None or not (res.match or res.guess):
        return res
    words = norm.split()
    kept = [w for i, w in enumerate(words)
            if not (_PT_CALL.match(w) or (w in ("call", "calling", "callback") and (
                    w == "callback" or tuple(words[i + 1:i + 2]) in (("me",), ("us",), ("back",)))))]
    if len(kept) == len(words) or not kept:
        return res
    left = resolver.resolve(" ".join(kept), at=at, hours_for=hours_for)
    return left if (left.match or left.guess) != (res.match or res.guess) else res


def _full_names_asked(words: Sequence[str]) -> Iterator[int]:
    """Positions of first names followed by another word (a surname, perhaps),
    other than the caller's own ("this is john smith")."""
    lx = lexicon()
    for i, w in enumerate(words[:-1]):
        if lx.is_first_name(w) and not lx.is_common(w) and not _own_name(words, i):
            yield i


def _namesake_there(norm: str, resolver: Resolver, at: Optional[datetime],
                    hours_for: Optional[HoursFor]) -> Optional[Resolution]:
    """The person a full name nobody here has means, when the sentence without its
    surname names one of that first name ("o thiago mendes das peças" -> "o thiago
    das peças": Thiago Ramos, of Peças), by the department said with it."""
    words = norm.split()
    for i in _full_names_asked(words):
        found = resolver.resolve(" ".join(words[:i + 1] + words[i + 2:]), at=at, hours_for=hours_for)
        if found.match is not None and resolver.is_person(found.match) and not found.ambiguous:
            return found
    return None


def _namesakes(norm: str, resolver: Resolver) -> Optional[Resolution]:
    """The people here with the first name of a full name nobody here has ("john
    smith": John Thompson), as a question; None when nobody has that first name."""
    words = norm.split()
    for i in _full_names_asked(words):
        found = resolver.resolve(words[i])
        people = [(n, s) for n, s in ([(found.match, found.score)] if found.match else found.alternatives)
                  if n is not None and resolver.is_person(n)]
        if people and (found.match or found.ambiguous) and len(people) <= 3:
            if len(people) == 1 and _sounds_like_surname(words[i + 1], people[0][0]):
                # "matthew hues", "jennifer atoms": the one Matthew, his surname misheard
                return Resolution(people[0][0], people[0][1], [], False, None,
                                  f"{people[0][0]!r}: the surname heard sounds like theirs", [])
            names = " or ".join(repr(n) for n, _ in people)
            return Resolution(None, min(s for _, s in people), people, True, None,
                              f"nobody here by that full name; of that first name: {names}: ask", [])
    return None


#: Most unlike (``fuzz.ratio``) a surname heard may be to a person's and still be
#: theirs misheard, when the two do not sound alike by metaphone ("hues": Hughes 80).
SURNAME_HEARD_MIN = 75.0


def _sounds_like_surname(said: str, person: str) -> bool:
    """``said`` may be ``person``'s surname as a recogniser heard it: alike by
    metaphone ("atoms": Adams, "arrojo": Araújo) or spelling ("hues": Hughes)."""
    theirs = normalize_text(person).split()[-1]
    if len(said) < 3 or said == theirs:
        return False
    return jellyfish.metaphone(said) == jellyfish.metaphone(theirs) or fuzz.ratio(said, theirs) >= SURNAME_HEARD_MIN


def _named_only_in(pattern: re.Pattern[str], norm: str, resolver: Optional[Resolver]) -> bool:
    """The destination the resolver heard is named only by words of ``pattern``'s
    phrase ("vou desligar, tchau": "desligar" is not the HR department's dismissals;
    "say it again": not the IT desk): without them, nothing is named."""
    if resolver is None:
        return False
    rest = " ".join(pattern.sub(" ", norm).split())
    if not rest:
        return True
    left = resolver.resolve(rest)
    return left.match is None and not left.ambiguous


#: A call from this number the caller is returning, nobody named: no topic to guess from.
_RETURNED_CALL = _rx(
    r"(?:recebi|recebemos|tive|teve) (?:uma |umas |duas )?(?:ligacao|ligacoes|chamada|chamadas)(?: perdida| perdidas)?"
    r"(?: \w+){0,2} (?:desse|deste|daqui|dai|de voces)",
    r"(?:me |nos )?ligaram (?:desse|deste|daqui|dai)", r"(?:alguem|voces) (?:me |nos )?ligou (?:desse|deste|daqui|dai)",
    r"(?:got|had|missed|received) (?:a |an |two |some )?(?:missed )?calls? from (?:this|your)"
    r" (?:number|company|office)",
    r"(?:someone|somebody|you|you guys) called (?:me |us )?from (?:this|your) number",
    r"returning (?:a |your |my )?(?:missed )?call",
)


#: Who the caller means by a name ("somebody named bill yates", "uma moça chamada rosa"):
#: the words after it are a name even when they are also common words.
_NAMED_AS = _rx(
    r"(?:named|by the name of|de nome|com o nome de|com nome de)",
    r"(?:somebody|someone|a guy|a lady|a woman|a man|a person|a gentleman|a girl|alguem|uma pessoa|um rapaz|uma moca"
    r"|um moco|um senhor|uma senhora|um cara|uma mulher|um homem|uma menina|um menino) (?:called|chamad[oa])",
)


def _said_as_a_name(norm: str, res: Resolution) -> bool:
    """Every word the resolution rests on follows "named"/"chamado" as a name."""
    names: set[str] = set()
    for m in _NAMED_AS.finditer(norm):
        names.update(norm[m.end():].split()[:3])
    if not names:
        return False
    heard = {w for m in res.matched for w in m.get("words", ())}
    return bool(heard) and heard <= names


#: A long story's request is at its end ("... so I'm hoping you'll cover it under the
#: warranty", "... queria saber se tem alguma vaga aberta aí").
LONG_STORY = 20
_STORY_ASKS = _rx(
    r"queria saber", r"queria", r"gostaria", r"quero", r"preciso", r"sera que", r"voces (?:fazem|tem|podem)",
    r"alguem (?:pode|poderia|achou)", r"(?:so )?i (?:need|want|wanted|d like|would like|was wondering|m hoping"
    r"|am hoping|m trying)", r"can (?:you|someone|somebody)", r"who do i", r"could (?:you|someone|somebody)",
)


def _story_end(norm: str, resolver: Resolver, at: Optional[datetime],
               hours_for: Optional[HoursFor]) -> Optional[Resolution]:
    """In a long story (``LONG_STORY`` words or more) that names nothing sure as a
    whole, what its last request names, when that names one destination."""
    tail = _story_tail(norm)
    if tail is None:
        return None
    end = resolver.resolve(tail, at=at, hours_for=hours_for)
    return end if end.match is not None else None


def _story_tail(norm: str) -> Optional[str]:
    """A long story's last request, from its last asking words on; None for a short
    sentence, or one whose asking words come near its start."""
    words = norm.split()
    if len(words) < LONG_STORY:
        return None
    starts = [m.start() for m in _STORY_ASKS.finditer(norm)]
    if not starts or len(norm[starts[-1]:].split()) >= len(words) - 3:
        return None
    return norm[starts[-1]:]


def _topic_only(res: Optional[Resolution]) -> bool:
    """The resolution rests on topic words only (no name, alias or person said)."""
    return res is not None and bool(res.matched) and all(m.get("evidence") == "topic" for m in res.matched)


def _from_keys(keys: str, menu: Mapping[str, str], expect: str) -> Intent:
    k = keys.rstrip("#")
    if k == "0":
        return Intent("operator", source="dtmf", text=keys, reason="key 0")
    if k == "*":
        return Intent("repeat", source="dtmf", text=keys, reason="key *")
    if expect == "yes_no":
        if k == "1":
            return Intent("yes", source="dtmf", text=keys, reason="key 1")
        if k == "2":
            return Intent("no", source="dtmf", text=keys, reason="key 2")
        return Intent("unknown", source="dtmf", text=keys, reason=f"key {k!r} is not 1 or 2")
    name = menu.get(k)
    if name is not None:
        return Intent("transfer", destination=name, source="dtmf", text=keys, reason=f"menu key {k}")
    return Intent("unknown", source="dtmf", text=keys, reason=f"no menu entry for key {k!r}")


__all__ = ["KINDS", "Intent", "callback_request", "classify", "none_of_them", "normalize_text", "spoken_key"]
