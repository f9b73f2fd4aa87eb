"""The portal's pages. Public ones need no login; the others are HubOAuthenticated. The work is the Office's.

Templates are Jinja2 with autoescaping on; every form carries the XSRF token, checked by tornado
on every POST. Only data the viewer may see reaches a template: the office filters it.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import quote

from tornado import web

from enclave.errors import EnclaveError
from enclave.models import Purpose, Role
from enclave.shell import service as kit
from enclave.shell.service import Refused

from ..dcat import to_jsonld, to_turtle
from ..models import CRITERIA
from ..permissions import PermissionDenied
from ..workflow import WorkflowError

TEAM_ROWS = 6
STATUS = {PermissionDenied: 403, WorkflowError: 409, EnclaveError: 400}


async def in_thread(fn, *args, **kwargs):
    """Run a blocking office operation off the event loop; its refusals become :class:`Refused`."""
    return await kit.in_thread(STATUS, fn, *args, **kwargs)


class BaseHandler(kit.ServiceHandler):
    @property
    def roles(self) -> dict[str, bool]:
        return {"staff": self.viewer.has(Role.ops), "committee": self.viewer.has(Role.committee)}

    @property
    def office(self):
        return self.settings["office"]

    def page_values(self) -> dict[str, Any]:
        return {"roles": self.roles}


# --- public -------------------------------------------------------------------------------------

class HomeHandler(BaseHandler):
    async def get(self):
        self.render_page("home.html", catalogue=self.office.catalogue)


class CatalogueHandler(BaseHandler):
    async def get(self):
        self.render_page("catalogue.html", catalogue=self.office.catalogue)


class DatasetHandler(BaseHandler):
    async def get(self, key: str):
        catalogue = self.office.catalogue
        if key not in catalogue.datasets:
            raise Refused(404, f"dataset {key!r} is not in the catalogue")
        self.render_page("dataset.html", catalogue=catalogue, dataset=catalogue.datasets[key])


class TableHandler(BaseHandler):
    async def get(self, name: str):
        catalogue = self.office.catalogue
        if name not in catalogue.tables:
            raise Refused(404, f"table {name!r} is not in the catalogue")
        table = catalogue.tables[name]
        self.render_page("table.html", catalogue=catalogue, table=table, dataset=catalogue.datasets[table.dataset],
                         links=catalogue.links_of(name))


class ExportHandler(BaseHandler):
    async def get(self, kind: str):
        config = self.settings["config"]
        render = to_turtle if kind == "ttl" else to_jsonld
        body = await in_thread(render, self.office.catalogue, config.catalogue_base)
        self.set_header("Content-Type", "text/turtle; charset=utf-8" if kind == "ttl"
                        else "application/ld+json; charset=utf-8")
        self.set_header("Cache-Control", "public, max-age=300")
        self.finish(body)


class DirectoryHandler(BaseHandler):
    async def get(self):
        projects = await in_thread(self.office.directory)
        self.render_page("directory.html", projects=projects, catalogue=self.office.catalogue)


# --- signed in ----------------------------------------------------------------------------------

def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


class RequestForm:
    """The request form's fields as the workflow takes them."""

    @staticmethod
    def read(handler: BaseHandler) -> dict[str, Any]:
        arg = handler.get_argument
        team = []
        for i in range(TEAM_ROWS):
            name = arg(f"team-{i}-name", "").strip()
            if name:
                team.append({"name": name, "role": arg(f"team-{i}-role", ""),
                             "organisation": arg(f"team-{i}-organisation", ""),
                             "username": arg(f"team-{i}-username", ""), "public": arg(f"team-{i}-public", "") == "yes"})
        period_column = arg("period-column", "").strip()
        period = ({"column": period_column, "start": arg("period-start", ""), "end": arg("period-end", "")}
                  if period_column else None)
        return {
            "title": arg("title", ""), "summary": arg("summary", ""), "purpose": arg("purpose", ""),
            "methodology": arg("methodology", ""), "holder_organisation": arg("holder_organisation", ""),
            "duration_months": arg("duration_months", ""), "team": team,
            "data": {"tables": handler.get_arguments("table"), "columns": handler.get_arguments("column"),
                     "where": _lines(arg("where", "")), "period": period},
        }


def _form_values(handler: BaseHandler, request=None) -> dict[str, Any]:
    catalogue = handler.office.catalogue
    date_columns = [f"{t.name}.{c.name}" for t in catalogue.tables.values() for c in t.columns
                    if c.type in ("date", "datetime") and c.requestable]
    team = list(request.team) if request else []
    team += [{}] * (TEAM_ROWS - len(team))
    return {"catalogue": catalogue, "purposes": list(Purpose), "date_columns": date_columns, "team": team[:TEAM_ROWS]}


class MyRequestsHandler(BaseHandler):
    @web.authenticated
    async def get(self):
        requests = await in_thread(self.office.my_requests, self.username)
        self.render_page("my_requests.html", requests=requests)

    @web.authenticated
    async def post(self):
        request = await in_thread(self.office.create, self.username, RequestForm.read(self))
        self.redirect(self.url(f"requests/{request.id}"))


class NewRequestHandler(BaseHandler):
    @web.authenticated
    async def get(self):
        self.render_page("request_form.html", request=None, chosen=self.get_arguments("table"),
                         **_form_values(self))


class RequestHandler(BaseHandler):
    @web.authenticated
    async def get(self, request_id: str):
        info = await in_thread(self.office.view, self.username, int(request_id))
        request = info["request"]
        editing = info["is_applicant"] and request.state.value == "draft"
        self.render_page("request.html", info=info, request=request, editing=editing, criteria=CRITERIA,
                         chosen=request.data.get("tables", []), **_form_values(self, request))

    @web.authenticated
    async def post(self, request_id: str):
        """Saving the draft's form (the applicant only; the workflow refuses anyone else)."""
        await in_thread(self.office.edit, self.username, int(request_id), RequestForm.read(self))
        self.redirect(self.url(f"requests/{int(request_id)}"))


# The forms whose refusals are shown on the form itself, with what the person typed kept.
FORMS = {"submit": "request-form", "opinion": "opinion-form", "authorise": "authorise-form"}


class ActionHandler(BaseHandler):
    @web.authenticated
    async def post(self, request_id: str, action: str):
        try:
            target = await self._act(int(request_id), action)
        except Refused as refusal:
            if refusal.status in (400, 409) and action in FORMS:
                await self._form_error(int(request_id), FORMS[action], refusal.message)
                return
            raise
        self.redirect(self.url(f"requests/{target}"))

    async def _form_error(self, rid: int, form: str, message: str) -> None:
        info = await in_thread(self.office.view, self.username, rid)
        request = info["request"]
        posted = {name: self.get_argument(name) for name in self.request.arguments if name != "_xsrf"}
        self.set_status(400)
        self.render_page("request.html", info=info, request=request, criteria=CRITERIA,
                         editing=info["is_applicant"] and request.state.value == "draft",
                         chosen=request.data.get("tables", []), form_error={"form": form, "message": message},
                         posted=posted, **_form_values(self, request))

    async def _act(self, rid: int, action: str) -> int:
        arg, user = self.get_argument, self.username
        target = rid
        if action == "submit":
            if "title" in self.request.arguments:  # the draft's form itself: its edits are saved, then submitted
                await in_thread(self.office.edit, user, rid, RequestForm.read(self))
            await in_thread(self.office.submit, user, rid)
        elif action == "withdraw":
            await in_thread(self.office.withdraw, user, rid, arg("reason", ""))
        elif action == "revise":
            target = (await in_thread(self.office.revise, user, rid)).id
        elif action == "comment":
            await in_thread(self.office.comment, user, rid, arg("body", ""))
        elif action == "conflict":
            await in_thread(self.office.conflict, user, rid, arg("note", ""))
        elif action == "opinion":
            verdicts = {}
            for criterion in CRITERIA:
                value = arg(criterion, "")
                if value not in ("met", "not_met"):
                    raise Refused(400, f"say whether {criterion} is met")
                verdicts[criterion] = value == "met"
            reasons = {criterion: arg(f"{criterion}_reason", "") for criterion in CRITERIA}
            await in_thread(self.office.opinion, user, rid, verdicts, reasons)
        elif action == "send-back":
            await in_thread(self.office.send_back, user, rid, arg("reason", ""))
        elif action == "authorise":
            await self._authorise(rid)
        return target

    async def _authorise(self, rid: int) -> None:
        arg = self.get_argument
        files = self.request.files.get("document") or []
        if not files:
            raise Refused(400, "attach the authority's decision document")
        if arg("decision", "") not in ("granted", "refused"):
            raise Refused(400, "say whether the authority authorised or refused the request")
        granted = arg("decision") == "granted"
        try:
            decided_on = date.fromisoformat(arg("decided_on", ""))
            valid_until = date.fromisoformat(arg("valid_until")) if granted else None
        except ValueError:
            raise Refused(400, "write the decision's date and its validity end as YYYY-MM-DD") from None
        await in_thread(self.office.authorise, self.username, rid, granted=granted, number=arg("number", ""),
                        decided_on=decided_on, valid_until=valid_until, document=files[0]["body"],
                        document_name=files[0]["filename"], slug=arg("slug", ""))


class DecisionDocumentHandler(BaseHandler):
    """The authority's decision document as recorded, to whoever may see the request."""

    @web.authenticated
    async def get(self, request_id: str):
        name, body = await in_thread(self.office.decision_document, self.username, int(request_id))
        self.set_header("Content-Type", "application/pdf" if name.lower().endswith(".pdf") else "application/octet-stream")
        self.set_header("Content-Disposition", f"attachment; filename*=UTF-8''{quote(name)}")
        self.finish(body)


class CommitteeHandler(BaseHandler):
    @web.authenticated
    async def get(self):
        self.render_page("committee.html", requests=await in_thread(self.office.queue, self.username))


class StaffHandler(BaseHandler):
    @web.authenticated
    async def get(self):
        self.render_page("staff.html", requests=await in_thread(self.office.staff_queue, self.username))


class PublishHandler(BaseHandler):
    @web.authenticated
    async def get(self):
        self.render_page("publish.html", outputs=await in_thread(self.office.publishable, self.username))

    @web.authenticated
    async def post(self):
        embargo = self.get_argument("embargo_until", "").strip()
        try:
            embargo_until = date.fromisoformat(embargo) if embargo else None
        except ValueError:
            raise Refused(400, f"embargo date {embargo!r} is not YYYY-MM-DD") from None
        request_id = self.get_argument("egress_request", "")
        if not request_id.isdigit():
            raise Refused(400, "pick a released output to publish")
        await in_thread(self.office.publish, self.username, int(request_id), self.get_argument("title", ""),
                        self.get_argument("description", ""), embargo_until)
        self.redirect(self.url("directory"))
