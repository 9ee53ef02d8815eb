"""The subset of the SuperOps MSP GraphQL API the simulator serves, as SDL.

Kept as a Python string so it ships in every install (package data lists no .graphql).
"""

SDL = """
# The subset of the SuperOps MSP GraphQL API the simulator serves (from the vendor
# reference; see docs/connectors/superops.md). JSON scalars carry client/site/requester/...
scalar JSON

input TicketIdentifierInput { ticketId: ID! }
input ClientIdentifierInput { accountId: ID! }
input AssetIdentifierInput { assetId: ID! }
input SortInput { attribute: String!, order: String }
input RuleConditionInput {
  attribute: String
  operator: String
  value: JSON
  joinOperator: String
  operands: [RuleConditionInput]
}
input ListInfoInput { page: Int, pageSize: Int, condition: RuleConditionInput, sort: [SortInput] }
input GetClientUserListInput { client: JSON, listInfo: ListInfoInput }
input AssetDetailsListInput { assetId: ID!, listInfo: ListInfoInput }

type ListInfo { page: Int, pageSize: Int, sort: JSON, condition: JSON, hasMore: Boolean, totalCount: Int }

type Ticket {
  ticketId: ID
  displayId: String
  subject: String
  ticketType: String
  requestType: String
  source: String
  client: JSON
  site: JSON
  requester: JSON
  additionalRequester: JSON
  followers: JSON
  techGroup: JSON
  technician: JSON
  status: String
  priority: String
  impact: String
  urgency: String
  category: String
  subcategory: String
  cause: String
  subcause: String
  resolutionCode: String
  sla: JSON
  createdTime: String
  updatedTime: String
  firstResponseDueTime: String
  firstResponseTime: String
  firstResponseViolated: Boolean
  resolutionDueTime: String
  resolutionTime: String
  resolutionViolated: Boolean
  customFields: JSON
  worklogTimespent: String
}
type TicketList { tickets: [Ticket], listInfo: ListInfo }

type Note { noteId: ID, addedBy: JSON, addedOn: String, content: String, attachments: JSON, privacyType: String }
type TicketConversation {
  conversationId: ID, content: String, time: String, user: JSON,
  toUsers: JSON, ccUsers: JSON, bccUsers: JSON, attachments: JSON, type: String
}
type TicketStatus { id: ID, name: String, description: String }
type TicketPriority { id: ID, name: String, colorCode: String }

type Client {
  accountId: ID, name: String, stage: String, status: String, emailDomains: JSON,
  accountManager: JSON, primaryContact: JSON, secondaryContact: JSON, hqSite: JSON,
  technicianGroups: JSON, customFields: JSON
}
type ClientList { clients: [Client], listInfo: ListInfo }
type ClientUser {
  userId: ID, firstName: String, lastName: String, name: String, email: String,
  contactNumber: String, reportingManager: JSON, site: JSON, role: JSON, client: JSON,
  customFields: JSON
}
type ClientUserList { userList: [ClientUser], listInfo: ListInfo }

type Asset {
  assetId: ID, name: String, assetClass: JSON, client: JSON, site: JSON, requester: JSON,
  primaryMac: String, loggedInUser: String, serialNumber: String, manufacturer: String,
  model: String, hostName: String, publicIp: String, gateway: String, domain: String,
  platform: String, platformFamily: String, platformCategory: String, platformVersion: String,
  status: String, sysUptime: String, lastCommunicatedTime: String, lastReportedTime: String,
  agentVersion: String, patchStatus: String, warrantyExpiryDate: String, purchasedDate: String,
  customFields: JSON, deviceCategory: String
}
type AssetList { assets: [Asset], listInfo: ListInfo }
type AssetActivity { activityId: ID, createdTime: String, activityType: String, activityData: JSON }
type AssetActivityList { activities: [AssetActivity], listInfo: ListInfo }

type Alert {
  id: ID, message: String, createdTime: String, status: String, severity: String,
  description: String, asset: JSON, policy: JSON
}
type AlertList { alerts: [Alert], listInfo: ListInfo }

type Script {
  scriptId: ID, name: String, description: String, language: String, addedBy: JSON,
  createdTime: String, favourite: Boolean, runAs: String, runTimeVariables: JSON,
  timeOut: Int, tags: JSON, readMe: String
}
type ScriptList { scripts: [Script], listInfo: ListInfo }
type RunScriptData { actionConfigId: ID, script: JSON, scriptArguments: JSON, addedBy: JSON }

input CreateTicketInput {
  subject: String!, client: JSON!, source: String!, description: String, site: JSON,
  requester: JSON, techGroup: JSON, technician: JSON, status: String, priority: String,
  impact: String, urgency: String, category: String, subcategory: String, requestType: String,
  customFields: JSON
}
input UpdateTicketInput {
  ticketId: ID!, subject: String, site: JSON, requester: JSON, techGroup: JSON,
  technician: JSON, status: String, priority: String, impact: String, urgency: String,
  category: String, subcategory: String, resolutionCode: String, customFields: JSON
}
input CreateTicketNoteInput {
  ticket: TicketIdentifierInput!, content: String!, attachments: JSON, addedBy: JSON,
  addedOn: String, privacyType: String
}
input ResolveAlertInput { id: ID! }
input ScriptArgumentInput { name: String!, value: String }
input RunScriptInput { assetId: ID!, scriptId: ID!, scriptArguments: [ScriptArgumentInput] }

type Query {
  getTicket(input: TicketIdentifierInput!): Ticket
  getTicketList(input: ListInfoInput!): TicketList
  getTicketNoteList(input: TicketIdentifierInput!): [Note]
  getTicketConversationList(input: TicketIdentifierInput!): [TicketConversation]
  getStatusList: [TicketStatus]
  getPriorityList: [TicketPriority]
  getClient(input: ClientIdentifierInput!): Client
  getClientList(input: ListInfoInput!): ClientList
  getClientUserList(input: GetClientUserListInput!): ClientUserList
  getAsset(input: AssetIdentifierInput!): Asset
  getAssetList(input: ListInfoInput!): AssetList
  getAssetActivity(input: AssetDetailsListInput!): AssetActivityList
  getAlertList(input: ListInfoInput!): AlertList
  getScriptList(input: ListInfoInput!): ScriptList
}
type Mutation {
  createTicket(input: CreateTicketInput!): Ticket
  updateTicket(input: UpdateTicketInput!): Ticket
  createTicketNote(input: CreateTicketNoteInput!): Note
  resolveAlerts(input: [ResolveAlertInput!]!): Boolean
  runScriptOnAsset(input: RunScriptInput!): RunScriptData
}
"""
