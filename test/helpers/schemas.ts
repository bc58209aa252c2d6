import type { DescMessage } from "@bufbuild/protobuf";
import { file_tessera_v1_application_admin_service } from "../../gen/tessera/v1/application_admin_service_pb.js";
import { file_tessera_v1_key_admin_service } from "../../gen/tessera/v1/key_admin_service_pb.js";
import { file_tessera_v1_resource_admin_service } from "../../gen/tessera/v1/resource_admin_service_pb.js";
import { file_tessera_v1_token_service } from "../../gen/tessera/v1/token_service_pb.js";
import { file_tessera_v1_user_admin_service } from "../../gen/tessera/v1/user_admin_service_pb.js";

/** Every message tessera's services define, nested ones included: what the codec tests compare over. */
export function tesseraSchemas(): DescMessage[] {
  const out: DescMessage[] = [];
  const collect = (m: DescMessage) => {
    out.push(m);
    m.nestedMessages.forEach(collect);
  };
  for (const file of [
    file_tessera_v1_token_service,
    file_tessera_v1_application_admin_service,
    file_tessera_v1_key_admin_service,
    file_tessera_v1_resource_admin_service,
    file_tessera_v1_user_admin_service,
  ]) {
    file.messages.forEach(collect);
  }
  return out;
}
