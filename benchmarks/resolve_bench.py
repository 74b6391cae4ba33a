"""Resolution latency with a large domain: 2,000 destinations x 5 aliases.

Builds realistic names (Brazilian people, departments with qualifiers, English
teams), realistic utterances (fillers, accents dropped, ASR slips, first names,
aliases inside sentences, nonsense), resolves each once and prints JSON:

    {"p50_ms": ..., "p99_ms": ..., "max_ms": ..., "destinations": 2000,
     "aliases": 10000, "utterances": 5000, "cores": 2, ...}

Usage: python benchmarks/resolve_bench.py [--destinations N] [--utterances N] [--seed S]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from dataclasses import dataclass

from voiceai_ivr.domain.resolve import Resolver

FIRST = (
    "Ana Maria João José Antônio Francisco Carlos Paulo Pedro Lucas Luiz Marcos Luís Gabriel "
    "Rafael Daniel Marcelo Bruno Eduardo Felipe Raimundo Rodrigo Manoel Mateus André Fernando "
    "Fábio Leonardo Gustavo Guilherme Leandro Tiago Anderson Ricardo Márcio Jorge Sebastião "
    "Juliana Adriana Márcia Fernanda Patrícia Aline Sandra Camila Amanda Bruna Jéssica Letícia "
    "Júlia Luciana Vanessa Mariana Gabriela Vera Vitória Larissa Cláudia Beatriz Rita Luana "
    "Sônia Renata Eliane Débora Priscila Tatiana Simone Cristina Michael Jennifer David Sarah"
).split()
LAST = (
    "Silva Santos Oliveira Souza Rodrigues Ferreira Alves Pereira Lima Gomes Costa Ribeiro "
    "Martins Carvalho Almeida Lopes Soares Fernandes Vieira Barbosa Rocha Dias Nascimento "
    "Andrade Moreira Nunes Marques Machado Mendes Freitas Cardoso Ramos Gonçalves Santana "
    "Teixeira Araújo Pinto Correia Cavalcanti Monteiro Moura Campos Batista Freire Miranda"
).split()
DEPTS = (
    "Financeiro Suporte Comercial Vendas Compras Jurídico Faturamento Cobrança Logística Expedição "
    "Almoxarifado Contabilidade Marketing Ouvidoria Recepção Diretoria Engenharia Manutenção "
    "Qualidade Tesouraria Patrimônio Secretaria Laboratório Farmácia Enfermaria Radiologia "
    "Billing Sales Support Shipping Returns Accounting Payroll Legal Marketing Operations"
).split()
QUALIFIERS = (
    "Técnico Nível 2 Empresarial Residencial Corporativo Norte Sul Leste Oeste Centro Filial "
    "Matriz Noturno Varejo Atacado Internacional Nacional Premium Pós-venda Pré-venda Online "
    "Enterprise Retail East West North South Plus Express"
).split()
ALIAS_WORDS = (
    "boleto segunda via nota fiscal pagamento fatura contrato cancelamento internet lenta caiu "
    "sem sinal senha acesso entrega pedido troca devolução orçamento proposta reclamação "
    "agendamento consulta exame resultado receita reembolso cadastro atualização rastreio "
    "invoice refund password outage delivery order quote complaint appointment tracking"
).split()
ROLES = (
    "gerente analista coordenador coordenadora supervisor supervisora assistente diretor "
    "diretora atendente técnico técnica consultor consultora manager analyst lead"
).split()
FILLERS_PT = [
    "eu queria falar com {x} por favor", "{x}", "me passa pro {x}", "gostaria de falar com o {x}",
    "é sobre {x}", "bom dia eu preciso do pessoal do {x}", "oi tudo bem queria {x}",
    "minha {x} de novo", "quero falar com a {x}", "pode me transferir para {x}",
]
FILLERS_EN = [
    "I'd like to talk to someone in {x} please", "{x} please", "can you put me through to {x}",
    "hi I need {x}", "it's about my {x}", "transfer me to {x}",
]
NONSENSE = [
    "quero pizza de calabresa", "qual o horário de funcionamento", "alô alô", "hmm deixa eu ver",
    "what time do you close", "I'm not sure", "é engano desculpa", "o tempo está bom hoje",
]


@dataclass(frozen=True)
class Dest:
    name: str
    aliases: tuple[str, ...]
    enabled: bool = True


def build_destinations(n: int, rng: random.Random) -> list[Dest]:
    """A large company: ~40 departments; 70% people (each in a department, aliased by
    surname, role and department and one topic), 30% department lines (aliased by
    topics from their department's pool)."""
    departments = []
    while len(departments) < 40:
        dep = f"{rng.choice(DEPTS)} {rng.choice(QUALIFIERS)}"
        if dep not in departments:
            departments.append(dep)
    topics = {dep: rng.sample(ALIAS_WORDS, 6) for dep in departments}
    out: list[Dest] = []
    names: set[str] = set()
    while len(out) < n:
        dep = rng.choice(departments)
        person = rng.random() < 0.7
        if person:
            name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
            if rng.random() < 0.3:
                name += f" {rng.choice(LAST)}"
        else:
            name = f"{dep} {rng.choice(('Atendimento', 'Plantão', 'Agendamento', 'Help Desk', 'Central'))}"
        if name in names:
            continue
        names.add(name)
        if person:
            aliases = [
                name.split()[-1],
                f"{rng.choice(ROLES)} {dep.split()[0].lower()}",
                dep,
                " ".join(rng.sample(topics[dep], 2)),
                f"{name.split()[0]} do {dep.split()[0].lower()}",
            ]
        else:
            aliases = [" ".join(rng.sample(topics[dep], rng.choice((1, 2, 2, 3)))) for _ in range(5)]
        out.append(Dest(name, tuple(aliases)))
    return out


def asr_noise(text: str, rng: random.Random) -> str:
    r = rng.random()
    if r < 0.3:
        # accents dropped, as many ASR engines do
        import unicodedata

        text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    elif r < 0.5 and len(text) > 5:
        i = rng.randrange(1, len(text) - 1)
        text = text[:i] + text[i + 1 :]  # a dropped letter ("finaceiro")
    return text.lower() if rng.random() < 0.5 else text


def build_utterances(dests: list[Dest], n: int, rng: random.Random) -> list[str]:
    out = []
    for _ in range(n):
        r = rng.random()
        if r < 0.1:
            out.append(rng.choice(NONSENSE))
            continue
        d = rng.choice(dests)
        if r < 0.4:
            x = d.name
        elif r < 0.55:
            x = d.name.split()[0]  # first name only
        else:
            x = rng.choice(d.aliases)
        template = rng.choice(FILLERS_EN if rng.random() < 0.25 else FILLERS_PT)
        out.append(template.format(x=asr_noise(x, rng)))
    return out


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--destinations", type=int, default=2000)
    ap.add_argument("--utterances", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)
    rng = random.Random(args.seed)
    dests = build_destinations(args.destinations, rng)
    utterances = build_utterances(dests, args.utterances, rng)

    t0 = time.perf_counter()
    resolver = Resolver(dests)
    build_ms = (time.perf_counter() - t0) * 1000
    for u in utterances[:50]:  # warm-up (imports, caches of the interpreter)
        resolver.resolve(u)

    # Wall time is what a caller waits; CPU time of this thread is reported too,
    # because on a shared machine the wall-time tail is mostly other processes.
    times = []
    cpu = []
    matched = ambiguous = 0
    for u in utterances:
        c = time.thread_time()
        t = time.perf_counter()
        res = resolver.resolve(u)
        times.append((time.perf_counter() - t) * 1000)
        cpu.append((time.thread_time() - c) * 1000)
        matched += res.match is not None
        ambiguous += res.ambiguous
    times.sort()
    cpu.sort()

    def pct(p: float, values: list[float] = times) -> float:
        return round(values[min(len(values) - 1, int(p * len(values)))], 3)

    print(json.dumps({
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "max_ms": round(times[-1], 3),
        "mean_ms": round(statistics.fmean(times), 3),
        "p50_cpu_ms": pct(0.50, cpu),
        "p99_cpu_ms": pct(0.99, cpu),
        "destinations": len(dests),
        "aliases": sum(len(d.aliases) for d in dests),
        "utterances": len(utterances),
        "matched": matched,
        "ambiguous": ambiguous,
        "build_ms": round(build_ms, 1),
        "cores": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
