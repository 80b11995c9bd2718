# The local stack (devstack/README.md). Included by the root Makefile.
# PROFILE=dev|test|bench picks the ports and the .local/<profile>/ folder.
PROFILE ?= dev
DEVSTACK ?= .venv/bin/devstack

.PHONY: infra stop status

infra: ## start PostgreSQL, Redis, Kafka + Elasticsearch (noida-db), MongoDB (nx-27017)
	$(DEVSTACK) infra --profile $(PROFILE)

stop: ## stop everything this profile started, by PID (services first)
	$(DEVSTACK) stop --profile $(PROFILE)

status: ## one line per component and service: UP / REUSED / DOWN, pid, port, address
	$(DEVSTACK) status --profile $(PROFILE)

.PHONY: token
# USER=admin, USER=customer or USER=customer2 (the demo realm's users); the provider must be up (make dev).
token: ## print an access token from the local OIDC provider: make token USER=admin
	@$(dir $(DEVSTACK))python -m devstack.demo_token --profile $(PROFILE) --user "$(USER)"
