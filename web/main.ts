import { ChatClient } from '../tui/core/chat-client.js';
export { ChatClient };
