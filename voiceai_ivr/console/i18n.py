"""The console's interface text in pt-BR and en-US (the domain's language)."""

from __future__ import annotations

from typing import Callable

LANGUAGES = ("pt-BR", "en-US")

# key: (pt-BR, en-US)
_TEXT: dict[str, tuple[str, str]] = {
    "title": ("Console da secretária virtual", "Virtual secretary console"),
    "login": ("Entrar", "Log in"),
    "logout": ("Sair", "Log out"),
    "domain": ("Domínio", "Domain"),
    "password": ("Senha do console", "Console password"),
    "token": ("Token da API", "API token"),
    "login_either": ("Use o token da API do domínio, ou o domínio e a senha do console.",
                     "Use the domain's API token, or the domain and its console password."),
    "login_failed": ("Credenciais não reconhecidas.", "Credentials not recognised."),
    "login_throttled": ("Muitas tentativas; aguarde alguns minutos.", "Too many attempts; wait a few minutes."),
    "dashboard": ("Painel", "Dashboard"),
    "callbacks": ("Retornos", "Callbacks"),
    "destinations": ("Destinos", "Destinations"),
    "today": ("Hoje", "Today"),
    "last_7_days": ("Últimos 7 dias", "Last 7 days"),
    "calls": ("Chamadas", "Calls"),
    "transfers_by_outcome": ("Transferências por resultado", "Transfers by outcome"),
    "calls_by_outcome": ("Chamadas por resultado", "Calls by outcome"),
    "callbacks_created": ("Retornos criados", "Callbacks created"),
    "callbacks_closed": ("Retornos encerrados no período", "Callbacks closed in the period"),
    "callbacks_completed": ("concluídos", "completed"),
    "callbacks_expired": ("expirados", "expired"),
    "callbacks_failed": ("falharam", "failed"),
    "callbacks_cancelled": ("cancelados", "cancelled"),
    "median_to_callback": ("Mediana até o retorno", "Median time to call back"),
    "top_destinations": ("Destinos mais procurados", "Top destinations"),
    "per_day": ("Por dia", "Per day"),
    "health": ("Saúde", "Health"),
    "speech_recognition": ("Reconhecimento de fala", "Speech recognition"),
    "helpdesk_outbox": ("Fila do helpdesk", "Helpdesk outbox"),
    "backlog": ("pendentes", "backlog"),
    "oldest": ("mais antiga", "oldest"),
    "available": ("disponível", "available"),
    "keys_only": ("só teclas", "keys only"),
    "unknown": ("desconhecido", "unknown"),
    "none": ("nenhum", "none"),
    "status": ("Situação", "Status"),
    "all": ("todos", "all"),
    "from": ("De", "From"),
    "to": ("Até", "To"),
    "destination": ("Destino", "Destination"),
    "filter": ("Filtrar", "Filter"),
    "export_csv": ("Exportar CSV", "Export CSV"),
    "created": ("Criado", "Created"),
    "number": ("Número", "Number"),
    "window": ("Janela", "Window"),
    "reason": ("Motivo", "Reason"),
    "attempts": ("Tentativas", "Attempts"),
    "next_attempt": ("Próxima tentativa", "Next attempt"),
    "next_page": ("Próxima página", "Next page"),
    "first_page": ("Primeira página", "First page"),
    "no_callbacks": ("Nenhum retorno encontrado.", "No callbacks found."),
    "callback": ("Retorno", "Callback"),
    "recording": ("Gravação", "Recording"),
    "no_recording": ("Sem gravação.", "No recording."),
    "recording_missing": ("Arquivo de gravação indisponível.", "Recording file unavailable."),
    "transcript": ("Transcrição", "Transcript"),
    "no_attempts": ("Nenhuma tentativa ainda.", "No attempt yet."),
    "when": ("Quando", "When"),
    "where": ("Onde", "Where"),
    "outcome": ("Resultado", "Outcome"),
    "why": ("Por quê", "Why"),
    "actions": ("Ações", "Actions"),
    "call_now": ("Ligar agora", "Call now"),
    "agent_extension": ("Ramal do atendente", "Agent extension"),
    "snooze": ("Adiar", "Snooze"),
    "minutes": ("minutos", "minutes"),
    "cancel": ("Cancelar", "Cancel"),
    "cancel_reason": ("Motivo do cancelamento", "Why cancelled"),
    "done_snoozed": ("Retorno adiado.", "Callback snoozed."),
    "done_cancelled": ("Retorno cancelado.", "Callback cancelled."),
    "done_calling": ("Ligação iniciada.", "Call started."),
    "done_saved": ("Destino salvo.", "Destination saved."),
    "refused": ("Recusado", "Refused"),
    "name": ("Nome", "Name"),
    "aliases": ("Apelidos", "Aliases"),
    "type": ("Tipo", "Type"),
    "target": ("Alvo", "Target"),
    "gateway": ("Gateway", "Gateway"),
    "menu_key": ("Tecla do menu", "Menu key"),
    "hours": ("Horário", "Hours"),
    "holidays": ("Feriados", "Holidays"),
    "category": ("Categoria", "Category"),
    "keywords": ("Palavras-chave", "Keywords"),
    "enabled": ("Ativo", "Enabled"),
    "edit": ("Editar", "Edit"),
    "save": ("Salvar", "Save"),
    "one_per_line": ("um por linha", "one per line"),
    "yaml_hint": ("YAML como em destinations import; vazio: herdado",
                  "YAML as in destinations import; empty: inherited"),
    "history": ("Histórico de alterações", "Change history"),
    "who": ("Quem", "Who"),
    "what": ("O quê", "What"),
    "not_found": ("Não encontrado.", "Not found."),
    "forbidden_csrf": ("Formulário expirado; recarregue a página.", "Form expired; reload the page."),
    "unavailable": ("Serviço indisponível no momento.", "Service unavailable right now."),
    "status_pending": ("pendente", "pending"),
    "status_in_progress": ("em andamento", "in progress"),
    "status_completed": ("concluído", "completed"),
    "status_failed": ("falhou", "failed"),
    "status_expired": ("expirado", "expired"),
    "status_cancelled": ("cancelado", "cancelled"),
    "yes": ("sim", "yes"),
    "no": ("não", "no"),
}


def translator(language: str) -> Callable[[str], str]:
    """``t(key)`` in ``language`` (pt-BR unless en-US)."""
    index = 1 if language == "en-US" else 0

    def t(key: str) -> str:
        pair = _TEXT.get(key)
        return pair[index] if pair else key

    return t


__all__ = ["LANGUAGES", "translator"]
