from chassis import BaseServiceSettings


class Settings(BaseServiceSettings):
    service_name: str = "order-service"
