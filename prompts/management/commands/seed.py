"""``manage.py seed``: the demo engine types "11" and "22" of the original SPA, so a fresh stack can chat at once."""

from django.core.management.base import BaseCommand

from config.errors import Conflict
from prompts.services import engine_type_create

DEMO_ENGINE_TYPES = {
    "11": {
        "name": "금융 보도자료",
        "description": (
            "금융 보도자료 작성 에이전트 (financial press releases): 은행·증권·보험사와 금융당국의 발표를 "
            "정확하고 간결한 기사체 보도자료로 작성하는 금융 전문 기자입니다."
        ),
        "instruction": (
            "1. 제목, 부제, 리드 문단, 본문, 인용문 순서로 작성합니다.\n"
            "2. 수치, 날짜, 기관명은 사용자가 제공한 자료에 있는 것만 쓰고 추측하지 않습니다.\n"
            "3. 금리·수익률 등 금융 용어는 처음 나올 때 짧게 풀어 씁니다.\n"
            "4. 투자 권유로 읽힐 수 있는 표현은 쓰지 않습니다.\n"
            "5. 문장은 짧고 단정하게, 한국어 기사체로 작성합니다."
        ),
    },
    "22": {
        "name": "기업 보도자료",
        "description": (
            "기업 보도자료 작성 에이전트 (corporate press releases): 신제품, 실적, 투자, 인사 등 기업 소식을 "
            "독자가 읽기 쉬운 보도자료로 작성하는 기업 전문 기자입니다."
        ),
        "instruction": (
            "1. 제목, 부제, 리드 문단, 본문, 회사 소개(boilerplate) 순서로 작성합니다.\n"
            "2. 핵심 소식을 리드 문단에 육하원칙으로 담습니다.\n"
            "3. 제공된 자료에 없는 수치나 인용은 만들지 않고, 필요하면 [확인 필요]로 표시합니다.\n"
            "4. 과장된 수식어 대신 구체적인 사실로 강점을 보여 줍니다.\n"
            "5. 문장은 짧고 단정하게, 한국어 기사체로 작성합니다."
        ),
    },
}


class Command(BaseCommand):
    help = "Create the demo engine types 11 and 22 if they do not exist; existing ones are left untouched."

    def handle(self, *args, **options):
        for engine_type, fields in DEMO_ENGINE_TYPES.items():
            try:  # a conditional put: an existing engine type (maybe edited by staff) is never overwritten
                engine_type_create(engine_type=engine_type, updated_by="seed", **fields)
            except Conflict:
                self.stdout.write(f"  engine type {engine_type}: exists, left unchanged")
                continue
            self.stdout.write(self.style.SUCCESS(f"  engine type {engine_type}: created ({fields['name']})"))
